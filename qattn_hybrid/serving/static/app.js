"use strict";
// The qattn_hybrid web page: list the tasks, send the text, draw labels, bars and heat maps.
// Plain DOM, no external resources.
(function () {
  const $ = (id) => document.getElementById(id);
  const keyBox = $("key");
  keyBox.value = sessionStorage.getItem("qattn-key") || "";

  function headers() {
    const h = { "Content-Type": "application/json" };
    const key = keyBox.value.trim();
    if (key) { h["Authorization"] = "Bearer " + key; sessionStorage.setItem("qattn-key", key); }
    return h;
  }

  function status(text, isError) {
    $("status").textContent = text;
    $("status").className = isError ? "error" : "";
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function loadTasks() {
    const res = await fetch("/v1/tasks", { headers: headers() });
    const box = $("tasks");
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      box.querySelector(".muted") && (box.querySelector(".muted").textContent = body.detail || res.statusText);
      if (res.status === 401 || res.status === 403) $("auth").open = true;
      if (res.status === 503) setTimeout(loadTasks, 1000);
      return;
    }
    const data = await res.json();
    box.replaceChildren(el("legend", null, "Tasks"));
    for (const task of data.tasks) {
      const label = el("label");
      const box2 = el("input");
      box2.type = "checkbox"; box2.name = "task"; box2.value = task.name; box2.checked = true;
      label.append(box2, " " + task.name);
      box.append(label);
    }
  }

  function heat(weight, max) {
    const a = max > 0 ? weight / max : 0;  // 0..1: white to deep orange
    return `rgba(255, 120, 0, ${(0.08 + 0.85 * a).toFixed(3)})`;
  }

  // The words a task attends to most: the head mean of its weights, word pieces ("##es")
  // added to their word, special tokens ([CLS], [SEP]) left out; `qattn attend` does the same
  // from the tokenizer's offsets.
  function topWords(tokens, attention, n) {
    const words = [];
    tokens.forEach((tok, j) => {
      const w = attention.reduce((sum, row) => sum + row[j], 0) / attention.length;
      if (/^\[[A-Z]+\]$/.test(tok)) return;
      if (tok.startsWith("##") && words.length) {
        const last = words[words.length - 1];
        last[0] += tok.slice(2); last[1] += w;
      } else words.push([tok, w]);
    });
    return words.sort((a, b) => b[1] - a[1]).slice(0, n);
  }

  function drawTask(name, entry, tokens) {
    const card = el("div", "task-result");
    card.dataset.task = name;
    const title = el("h2", null, name + ": ");
    const value = "label" in entry ? entry.label : entry.prediction.toFixed(4);
    title.append(el("span", "label", value));
    card.append(title);
    if (entry.probabilities) {
      const probs = el("div", "probs");
      const items = Object.entries(entry.probabilities).sort((a, b) => b[1] - a[1]).slice(0, 8);
      items.forEach(([label, p], i) => {
        const bar = el("div", "bar");
        const fill = el("div", "prob-bar" + (i === 0 ? " top" : ""));
        fill.style.width = (100 * p).toFixed(1) + "%";
        bar.append(fill);
        probs.append(el("span", null, label), bar, el("span", null, (100 * p).toFixed(1) + "%"));
      });
      card.append(probs);
    }
    entry.attention.forEach((row, h) => {
      const map = el("div", "heatmap");
      if (entry.attention.length > 1) map.append(el("span", "head", `head ${h + 1}: `));
      const max = Math.max(...row);
      tokens.forEach((tok, j) => {
        const span = el("span", "token", tok);
        span.style.background = heat(row[j], max);
        span.title = `${tok}: ${row[j].toFixed(3)}`;
        map.append(span);
      });
      card.append(map);
    });
    const top = topWords(tokens, entry.attention, 3);
    card.append(el("p", "top-words", "Most attended: "
      + top.map(([w, v]) => `${w} ${(100 * v).toFixed(0)}%`).join(", ")));
    return card;
  }

  async function submit(event) {
    event.preventDefault();
    const text = $("text").value;
    if (!text.trim()) { status("Type a text first.", true); return; }
    const tasks = [...document.querySelectorAll("input[name=task]:checked")].map((b) => b.value);
    const body = { texts: [text] };
    if (tasks.length) body.tasks = tasks;
    $("submit").disabled = true;
    status("Predicting...");
    try {
      const res = await fetch("/v1/predict", { method: "POST", headers: headers(), body: JSON.stringify(body) });
      const data = await res.json();
      if (!res.ok) { status(data.detail || res.statusText, true); return; }
      const pred = data.predictions[0];
      const out = $("results");
      out.replaceChildren();
      if (pred.truncated) out.append(el("p", "truncated", "The text was cut at the model's maximum length."));
      for (const [name, entry] of Object.entries(pred.tasks)) out.append(drawTask(name, entry, pred.tokens));
      status("");
    } catch (err) {
      status("Request failed: " + err, true);
    } finally {
      $("submit").disabled = false;
    }
  }

  $("form").addEventListener("submit", submit);
  keyBox.addEventListener("change", loadTasks);
  loadTasks();
})();
