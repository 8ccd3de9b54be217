// The conversation explorer of escalate's replay report. Runs from disk: data arrive as
// scripts that call ESCALATE_INDEX, ESCALATE_SHARD and ESCALATE_TEXT.
"use strict";

(function () {
  const PAGE = 50;
  const OUTCOME = {
    p: ["TP", "true positive"], f: ["FP", "false positive"], n: ["FN", "false negative"],
    t: ["TN", "true negative"], "-": ["–", "no label"],
  };
  const state = { index: null, matches: [], page: 0, rule: "", outcome: "", query: "" };
  const shards = new Map();    // shard number -> records
  const waiting = new Map();   // shard number -> callbacks
  const texts = new Map();     // text shard number -> lowercased texts
  let textLoading = null;

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function load(src, onError) {
    const script = el("script", { src });
    script.addEventListener("error", onError);
    document.body.append(script);
  }

  function badge(code) {
    const [short, long] = OUTCOME[code] || OUTCOME["-"];
    return el("span", { class: "badge " + (code === "-" ? "none" : code), title: long }, short);
  }

  // ---- the list -----------------------------------------------------------------------

  window.ESCALATE_INDEX = function (index) {
    state.index = index;
    $("meta").textContent =
      `${index.count.toLocaleString()} conversations · policy ${index.policy} · generated ${index.generated}`;
    const rules = $("rule");
    index.rules.forEach((name, i) => rules.append(el("option", { value: String(i) }, name)));
    rules.addEventListener("change", () => { state.rule = rules.value; refilter(); });
    $("outcome").addEventListener("change", (e) => { state.outcome = e.target.value; refilter(); });
    let timer = null;
    $("search").addEventListener("input", (e) => {
      clearTimeout(timer);
      timer = setTimeout(() => { state.query = e.target.value.trim().toLowerCase(); refilter(); }, 150);
    });
    $("prev").addEventListener("click", () => { state.page -= 1; renderList(); });
    $("next").addEventListener("click", () => { state.page += 1; renderList(); });
    window.addEventListener("hashchange", route);
    refilter();
    route();
    window.ESCALATE_READY = performance.now();
    document.body.dataset.ready = "1";
  };

  function refilter() {
    const index = state.index;
    if (state.query && textLoading !== "done") {
      loadTexts();
      return;
    }
    const rule = state.rule === "" ? -1 : Number(state.rule);
    const matches = [];
    for (let i = 0; i < index.count; i++) {
      if (state.outcome && index.outcome[i] !== state.outcome) continue;
      if (rule >= 0 && index.fired[i].indexOf(rule) < 0) continue;
      if (state.query && textAt(i).indexOf(state.query) < 0) continue;
      matches.push(i);
    }
    state.matches = matches;
    state.page = 0;
    $("status").textContent = `${matches.length.toLocaleString()} of ${index.count.toLocaleString()} shown`;
    renderList();
  }

  function textAt(i) {
    const size = state.index.text_shard_size;
    return texts.get(Math.floor(i / size))[i % size];
  }

  function loadTexts() {
    if (textLoading) return;
    const total = Math.ceil(state.index.count / state.index.text_shard_size);
    textLoading = "loading";
    $("status").textContent = `loading the text to search (0 of ${total})…`;
    for (let n = 0; n < total; n++) {
      load(`data/text-${String(n).padStart(5, "0")}.js`, () => {
        $("status").textContent = "the text to search could not be loaded";
      });
    }
  }

  window.ESCALATE_TEXT = function (number, list) {
    texts.set(number, list);
    const total = Math.ceil(state.index.count / state.index.text_shard_size);
    $("status").textContent = `loading the text to search (${texts.size} of ${total})…`;
    if (texts.size === total) {
      textLoading = "done";
      refilter();
    }
  };

  function renderList() {
    const index = state.index;
    const pages = Math.max(1, Math.ceil(state.matches.length / PAGE));
    state.page = Math.min(Math.max(state.page, 0), pages - 1);
    const rows = state.matches.slice(state.page * PAGE, (state.page + 1) * PAGE).map((i) =>
      el("tr", { "data-index": String(i), onclick: () => { location.hash = `#c/${i}`; } },
        el("td", {}, el("a", { href: `#c/${i}` }, index.id[i])),
        el("td", {}, badge(index.outcome[i])),
        el("td", {}, index.first[i] >= 0 ? `${index.rules[index.first[i]]} @ user turn ${index.at[i]}` : "–"),
        el("td", {}, index.users[i]),
        el("td", { class: "preview", title: index.preview[i] }, index.preview[i])));
    $("list").tBodies[0].replaceChildren(...rows);
    $("page").textContent = `page ${state.page + 1} of ${pages.toLocaleString()}`;
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
  }

  // ---- one conversation -----------------------------------------------------------------

  function route() {
    const found = /^#c\/(\d+)$/.exec(location.hash);
    const detail = $("detail-view");
    if (!found || !state.index || Number(found[1]) >= state.index.count) {
      detail.hidden = true;
      $("list-view").hidden = false;
      return;
    }
    const i = Number(found[1]);
    $("list-view").hidden = true;
    detail.hidden = false;
    detail.replaceChildren(el("p", { class: "meta" }, "loading…"));
    withRecord(i, (record) => renderDetail(i, record));
  }

  function withRecord(i, callback) {
    const size = state.index.shard_size;
    const number = Math.floor(i / size);
    const ready = () => callback(shards.get(number)[i % size]);
    if (shards.has(number)) return ready();
    if (!waiting.has(number)) {
      waiting.set(number, []);
      load(`data/conv-${String(number).padStart(5, "0")}.js`, () => {
        $("detail-view").replaceChildren(el("p", {}, "This conversation's data could not be loaded."));
      });
    }
    waiting.get(number).push(ready);
  }

  window.ESCALATE_SHARD = function (number, records) {
    shards.set(number, records);
    for (const callback of waiting.get(number) || []) callback();
    waiting.delete(number);
  };

  function describeLabel(record) {
    if (!record.label) return "no label";
    if (!record.label.escalate) return "did not need a person";
    return record.label.turn === null || record.label.turn === undefined
      ? "needed a person"
      : `needed a person from turn ${record.label.turn}`;
  }

  function renderDetail(i, record) {
    const byTurn = new Map(record.decisions.map((d) => [d[0], d]));
    const users = record.decisions.map((d) => d[0]);
    const decidedTurn = record.decision === null ? null : users[record.decision];
    const labelTurn = record.label_turn === null ? null : users[record.label_turn];
    const transcript = el("ol", { class: "transcript" }, record.turns.map((turn, t) => {
      const [role, text, intent, event, timestamp] = turn;
      const decision = byTurn.get(t);
      const classes = [role, t === decidedTurn ? "decided" : "", t === labelTurn ? "labelled" : ""];
      return el("li", { class: classes.join(" ").trim(), "data-turn": String(t) },
        el("span", { class: "who" }, role),
        el("div", {},
          text === null ? el("i", {}, event || intent || "") : text,
          intent && text !== null ? el("span", { class: "tag" }, `intent ${intent}`) : null,
          event && text !== null ? el("span", { class: "tag" }, `event ${event}`) : null,
          timestamp ? el("span", { class: "tag" }, timestamp) : null,
          decision ? decisionLine(decision) : null));
    }));
    const first = record.decision === null ? null : record.decisions[record.decision];
    $("detail-view").replaceChildren(
      el("p", {}, el("a", { href: "#" }, "← all conversations")),
      el("h2", {}, `Conversation ${record.id} `, badge(state.index.outcome[i])),
      el("div", { class: "grid" },
        el("div", {}, el("h2", {}, "Transcript and decisions"), transcript),
        el("div", {},
          el("h2", {}, "Summary"),
          el("dl", {},
            el("dt", {}, "label"), el("dd", { id: "label" }, describeLabel(record)),
            el("dt", {}, "first escalation"),
            el("dd", {}, first ? `${first[1]} by ${first[2]} at turn ${first[0]} (user turn ${record.decision})` : "none"),
            el("dt", {}, "customer"), el("dd", {}, record.customer_id || "–"),
            el("dt", {}, "channel"), el("dd", {}, record.channel)),
          el("h2", {}, "Signals over the user turns"),
          el("div", { class: "charts" }, Object.entries(record.signals).map(
            ([name, values]) => chart(name, values, record.decision, record.label_turn))))));
    window.scrollTo(0, 0);
  }

  function decisionLine(decision) {
    const [, action, rule, guard, reasons] = decision;
    const parts = [el("b", {}, action)];
    if (rule) parts.push(` · rule ${rule}`);
    if (guard) parts.push(` · guard ${guard}`);
    return el("div", { class: "decision" + (action !== "continue" ? " escalates" : "") }, parts,
      reasons.length ? el("ul", {}, reasons.map((r) => el("li", {}, r))) : null);
  }

  function chart(name, values, decided, labelled) {
    const width = 330, height = 74, left = 34, right = 8, top = 14, bottom = 14;
    const known = values.filter((v) => v !== null);
    const title = svg("text", { x: 0, y: 10 }, name === "score" ? "escalation score (margin of the closest rule)" : name);
    const box = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": name, "data-signal": name }, title);
    if (!known.length) {
      box.append(svg("text", { x: left, y: 40 }, "unknown at every turn"));
      return box;
    }
    let low = Math.min(...known), high = Math.max(...known);
    if (low === high) { low -= 0.5; high += 0.5; }
    const n = values.length;
    const x = (t) => left + (n === 1 ? (width - left - right) / 2 : (t * (width - left - right)) / (n - 1));
    const y = (v) => top + (1 - (v - low) / (high - low)) * (height - top - bottom);
    box.append(svg("text", { x: 0, y: top + 8 }, fmt(high)), svg("text", { x: 0, y: height - bottom }, fmt(low)));
    if (labelled !== null) {
      box.append(svg("line", { x1: x(labelled), x2: x(labelled), y1: top, y2: height - bottom, stroke: "#3c8d5a", "stroke-dasharray": "3 2", class: "label-mark" }));
    }
    if (decided !== null) {
      box.append(svg("line", { x1: x(decided), x2: x(decided), y1: top - 2, y2: height - bottom, stroke: "#c0392b", "stroke-width": 2, class: "decision-mark" }));
    }
    let path = "";
    values.forEach((v, t) => { if (v !== null) path += `${path ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`; });
    box.append(svg("path", { d: path, fill: "none", stroke: "#2f5d9b", "stroke-width": 1.5 }));
    values.forEach((v, t) => {
      if (v !== null) box.append(svg("circle", { cx: x(t).toFixed(1), cy: y(v).toFixed(1), r: 2.4, fill: t === decided ? "#c0392b" : "#2f5d9b" }, svg("title", {}, `user turn ${t}: ${fmt(v)}`)));
    });
    box.append(svg("text", { x: left, y: height - 2 }, "user turn 0"), svg("text", { x: width - right - 40, y: height - 2 }, `turn ${n - 1}`));
    return box;
  }

  function fmt(v) {
    return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(2);
  }
})();
