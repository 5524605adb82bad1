"""Task samplers: probabilities, order, seeding, resuming and DDP shards."""

import collections
import json

import pytest

from qattn_hybrid.training.sampling import SAMPLERS, make_sampler

SIZES = {"a": 100, "b": 400}


def run_epoch(sampler):
    return [(t, i.tolist()) for t, i in sampler]


class TestSamplers:
    def test_probabilities(self):
        p = make_sampler("proportional", SIZES, 8).probabilities()
        assert p == pytest.approx({"a": 0.2, "b": 0.8})
        p = make_sampler("temperature", SIZES, 8, temperature=2.0).probabilities()
        assert p == pytest.approx({"a": 1 / 3, "b": 2 / 3})  # sqrt: 10 and 20
        p = make_sampler("temperature", SIZES, 8, temperature=1.0).probabilities()
        assert p == pytest.approx({"a": 0.2, "b": 0.8})
        assert make_sampler("round_robin", SIZES, 8).probabilities() == {"a": 0.5, "b": 0.5}

    def test_steps_and_frequencies(self):
        s = make_sampler("temperature", SIZES, 10, temperature=2.0, steps_per_epoch=3000)
        counts = collections.Counter(t for t, _ in s)
        assert counts["a"] / 3000 == pytest.approx(1 / 3, abs=0.03)
        assert len(make_sampler("proportional", SIZES, 10)) == 10 + 40

    def test_round_robin_order_continues_across_epochs(self):
        s = make_sampler("round_robin", {"a": 9, "b": 9, "c": 9}, 2, steps_per_epoch=4)
        assert [t for t, _ in s] + [t for t, _ in s] == list("abca" + "bcab")

    def test_each_pass_covers_every_row_once(self):
        s = make_sampler("round_robin", {"a": 10, "b": 6}, 4, steps_per_epoch=10)
        rows = collections.defaultdict(list)
        for task, idx in s:
            assert len(idx) == 4
            rows[task].extend(idx.tolist())
        assert sorted(rows["a"][:10]) == list(range(10))  # pass 0 of a
        assert sorted(rows["b"][:6]) == list(range(6))
        assert sorted(rows["b"][6:12]) == list(range(6))  # reshuffled pass 1

    def test_seeded(self):
        a = run_epoch(make_sampler("proportional", SIZES, 8, seed=1))
        assert a == run_epoch(make_sampler("proportional", SIZES, 8, seed=1))
        assert a != run_epoch(make_sampler("proportional", SIZES, 8, seed=2))

    @pytest.mark.parametrize("name", list(SAMPLERS))
    def test_resume_mid_epoch_is_exact(self, name):
        kwargs = {"temperature": 3.0} if name == "temperature" else {}
        full = make_sampler(name, SIZES, 16, seed=5, **kwargs)
        expected = run_epoch(full) + run_epoch(full)
        s = make_sampler(name, SIZES, 16, seed=5, **kwargs)
        it = iter(s)
        head = [(t, i.tolist()) for t, i in (next(it) for _ in range(7))]
        state = json.loads(json.dumps(s.state_dict()))  # plain JSON types
        resumed = make_sampler(name, SIZES, 16, seed=5, **kwargs)
        resumed.load_state_dict(state)
        assert head + run_epoch(resumed) + run_epoch(resumed) == expected

    def test_ddp_ranks_share_order_and_split_rows(self):
        sizes = {"a": 11, "b": 20}
        ranks = [make_sampler("proportional", sizes, 5, seed=0, rank=r, world_size=2,
                              steps_per_epoch=2) for r in range(2)]
        epochs = [run_epoch(s) for s in ranks]
        assert [t for t, _ in epochs[0]] == [t for t, _ in epochs[1]]
        for task, n in sizes.items():  # one pass: disjoint halves of n // 2 rows each
            shards = [ranks[r]._shard(task, 0).tolist() for r in range(2)]
            assert set(shards[0]).isdisjoint(shards[1])
            assert len(shards[0]) == len(shards[1]) == n // 2

    def test_unknown_sampler(self):
        with pytest.raises(KeyError, match=r"Unknown sampler 'uniform'. Available: proportional, "
                                           r"temperature, round_robin"):
            make_sampler("uniform", SIZES, 8)

    @pytest.mark.parametrize("kwargs, message", [
        ({"sizes": {}}, r"sizes must name at least one task; got an empty mapping"),
        ({"batch_size": 0}, r"batch_size must be an int >= 1; got 0"),
        ({"rank": 2, "world_size": 2}, r"rank must be an int in \[0, 2\); got 2"),
        ({"world_size": 0}, r"world_size must be an int >= 1; got 0"),
        ({"sizes": {"a": 1}, "world_size": 2}, r"Task 'a': size must be an int >= world_size"),
        ({"steps_per_epoch": 0}, r"steps_per_epoch must be an int >= 1 or None; got 0"),
    ])
    def test_invalid_arguments(self, kwargs, message):
        args = {"sizes": SIZES, "batch_size": 8, **kwargs}
        with pytest.raises(ValueError, match=message):
            make_sampler("proportional", args.pop("sizes"), args.pop("batch_size"), **args)

    def test_bad_temperature(self):
        with pytest.raises(ValueError, match=r"temperature must be a number > 0; got 0"):
            make_sampler("temperature", SIZES, 8, temperature=0)

    def test_state_from_another_sampler_is_refused(self):
        state = make_sampler("proportional", SIZES, 8, seed=1).state_dict()
        with pytest.raises(ValueError, match=r"Sampler state seed must match this sampler's \(2\); "
                                             r"got 1"):
            make_sampler("proportional", SIZES, 8, seed=2).load_state_dict(state)
        with pytest.raises(ValueError, match=r"Sampler state name must match"):
            make_sampler("round_robin", SIZES, 8, seed=1).load_state_dict(state)
