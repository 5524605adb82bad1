"""Masking personal data: hand-labelled cases, issuers' test card numbers and the IBAN
registry's examples as references, and the bundled financial tweets (nothing to mask there)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from qattn_hybrid.serving.masking import MaskingFilter, iban_valid, luhn_valid, mask_pii

TWEETS = (Path(__file__).resolve().parents[3] / "qattn_hybrid" / "data" / "datasets"
          / "twitter_financial_news_sentiment" / "twitter_financial_news_sentiment.jsonl")

# the issuers' published test numbers (Visa, Mastercard, Amex, Discover, Diners, JCB)
TEST_CARDS = ("4111111111111111", "4012888888881881", "5555555555554444", "5105105105105100",
              "378282246310005", "371449635398431", "6011111111111117", "30569309025904",
              "3530111333300000")
# examples from the SWIFT IBAN registry
IBANS = ("GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606",
         "NL91ABNA0417164300", "CH9300762011623852957")


class TestEmails:
    @pytest.mark.parametrize("text, want", [
        ("mail jo.doe+news@example.co.uk now", "mail [email] now"),
        ("<ANNA_B@Mail.Example.ORG>", "<[email]>"),
        ("a@b.io, c_d@e-f.com", "[email], [email]"),
    ])
    def test_masked(self, text, want):
        assert mask_pii(text) == want

    @pytest.mark.parametrize("text", ["@elonmusk says hi", "meet me @ 5pm", "user@localhost",
                                      "$AAPL @ 150.25"])
    def test_not_emails(self, text):
        assert mask_pii(text) == text


class TestPhones:
    @pytest.mark.parametrize("text, want", [
        ("call +1 (555) 123-4567 today", "call [phone] today"),
        ("(555) 123-4567", "[phone]"),
        ("555-123-4567 or 555.123.4567", "[phone] or [phone]"),
        ("Call 1-800-555-0199.", "Call [phone]."),
        ("+44 20 7946 0958", "[phone]"),
        ("+4915112345678", "[phone]"),
    ])
    def test_masked(self, text, want):
        assert mask_pii(text) == want

    @pytest.mark.parametrize("text", [
        "$AAPL up 3.5% to $1,234.56 on 2020-03-15", "Q3 2020 at 10:30", "FY 2019-2020",
        "100 200 300 400", "$ES 3107.50-3108", "$TSLA 12/31/2020", "up +12.5% to 1,234",
        "5551234567",  # no separators and no +: could be anything
    ])
    def test_numbers_that_are_not_phones(self, text):
        assert mask_pii(text) == text


class TestCards:
    @pytest.mark.parametrize("number", TEST_CARDS)
    def test_issuer_test_numbers_pass_luhn_and_are_masked(self, number):
        assert luhn_valid(number)
        assert mask_pii(f"card {number} exp 12/27") == "card [card] exp 12/27"

    @pytest.mark.parametrize("number", TEST_CARDS)
    def test_one_digit_off_fails_luhn_and_stays(self, number):
        wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
        assert not luhn_valid(wrong)
        assert mask_pii(f"order {wrong}") == f"order {wrong}"

    @pytest.mark.parametrize("text", ["4111 1111 1111 1111", "4111-1111-1111-1111",
                                      "5555 5555 5555 4444"])
    def test_grouped(self, text):
        assert mask_pii(f"pay with {text}.") == "pay with [card]."

    def test_luhn_by_hand(self):
        # 79927398713: the textbook example (sum 70); 79927398710 sums to 67
        assert luhn_valid("79927398713") and not luhn_valid("79927398710")

    def test_luhn_rejects_non_digits(self):
        with pytest.raises(ValueError, match="digits must be a string of digits; got '12a'"):
            luhn_valid("12a")

    def test_long_ordinary_numbers_stay(self):
        # 13+ digits that fail Luhn, and numbers glued to prices or decimals
        for text in ("market cap 1234567890123", "$1234567890123456", "1.234567890123456"):
            assert mask_pii(text) == text


class TestIbanAndAccounts:
    @pytest.mark.parametrize("iban", IBANS)
    def test_registry_examples(self, iban):
        assert iban_valid(iban)
        grouped = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
        assert mask_pii(f"IBAN {iban}") == "IBAN [iban]"
        assert mask_pii(f"to {grouped} today") == "to [iban] today"

    @pytest.mark.parametrize("iban", IBANS)
    def test_check_digits_off(self, iban):
        wrong = iban[:2] + f"{(int(iban[2:4]) + 1) % 100:02d}" + iban[4:]
        assert not iban_valid(wrong)
        assert mask_pii(wrong) == wrong

    @pytest.mark.parametrize("text, want", [
        ("account no. 12345678", "account no. [account]"),
        ("Acct #: 9876-5432-10", "Acct #: [account]"),
        ("my account number is 004512345", "my account number is [account]"),
        ("a/c 1234567", "a/c [account]"),
    ])
    def test_account_numbers_after_the_word(self, text, want):
        assert mask_pii(text) == want

    def test_short_numbers_after_account_stay(self):
        assert mask_pii("account 12345 closed") == "account 12345 closed"


class TestMaskPii:
    def test_mixed_and_idempotent(self):
        text = "Jo (jo@x.com, +1 555 123 4567) paid 4111 1111 1111 1111 from DE89370400440532013000"
        masked = mask_pii(text)
        assert masked == "Jo ([email], [phone]) paid [card] from [iban]"
        assert mask_pii(masked) == masked

    def test_rejects_non_strings(self):
        with pytest.raises(TypeError, match="text must be a str; got int"):
            mask_pii(42)


@pytest.fixture(scope="module")
def texts():
    lines = TWEETS.read_text("utf-8").split("\n")  # not splitlines: texts hold U+2028
    return [json.loads(line)["text"] for line in lines if line]


class TestFinancialTweets:
    """Tickers, prices, percentages and dates are everywhere here; nothing personal."""

    def test_no_tweet_changes(self, texts):
        assert len(texts) == 11931
        with_digits = sum(any(c.isdigit() for c in t) for t in texts)
        assert with_digits > 5000  # numbers are common: the patterns are under real pressure
        changed = [t for t in texts if mask_pii(t) != t]
        assert changed == []

    def test_personal_data_inside_tweets_is_found(self, texts):
        for t in texts[::97]:
            added = f"{t} DM jo@example.com or (555) 123-4567, card 4111111111111111"
            assert mask_pii(added) == f"{t} DM [email] or [phone], card [card]"


class TestMaskingFilter:
    def test_message_arguments_and_traceback(self, caplog):
        logger = logging.getLogger("qattn_hybrid.tests.masking")
        mask = MaskingFilter()
        logger.addFilter(mask)
        try:
            with caplog.at_level(logging.INFO, logger=logger.name):
                logger.info("request from %s: %r", "jo@example.com", ["call 555-123-4567"])
                try:
                    raise ValueError("bad card 4111111111111111")
                except ValueError:
                    logger.exception("failed for %s", "ann@example.org")
        finally:
            logger.removeFilter(mask)
        assert "jo@example.com" not in caplog.text and "555-123-4567" not in caplog.text
        assert "4111111111111111" not in caplog.text and "ann@example.org" not in caplog.text
        assert "request from [email]: ['call [phone]']" in caplog.text
        assert "ValueError: bad card [card]" in caplog.text  # the traceback, masked
        assert len(caplog.records) == 2  # masks, never drops

    def test_without_the_filter_nothing_changes(self, caplog):
        logger = logging.getLogger("qattn_hybrid.tests.masking")
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.info("request from %s", "jo@example.com")
        assert "request from jo@example.com" in caplog.text
