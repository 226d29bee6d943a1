"use strict";
const data = JSON.parse(document.getElementById("review-data").textContent);
const meta = data.meta, col = {};
data.columns.forEach((c, i) => { col[c] = i; });
const rows = data.rows;
const PAGE = 100;
const negative = meta.categories.filter(c => c !== meta.positive);
const storeKey = "umlsgraph-review:" + meta.query + ":" + meta.model + ":" + meta.generated;
let marks = {};
try { marks = JSON.parse(localStorage.getItem(storeKey) || "{}") || {}; } catch (e) { marks = {}; }
let view = rows, page = 0;
const lower = rows.map(r => (r[col.cui] + "\n" + (r[col.name] || "") + "\n" +
                             (r[col.text] || "")).toLowerCase());
const $ = id => document.getElementById(id);

function save() {
  try { localStorage.setItem(storeKey, JSON.stringify(marks)); } catch (e) { /* file:// */ }
}
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}
function setup() {
  $("title").textContent = "Review: " + meta.query;
  const sel = rows.filter(r => r[col.selected]).length;
  const flagged = rows.filter(r => r[col.contradiction]).length;
  const order = meta.order === "uncertain" ? "most uncertain first" :
    flagged + " contradictions of the hierarchy (islands and holes) first, most surprising " +
    "first, then most uncertain first";
  $("meta").textContent = sel + " selected and " + (rows.length - sel) +
    " borderline or contradicting concepts (P(" + meta.positive + ") \u2265 " + meta.borderline +
    "), " + order + "; predictions of " + meta.model + "; page made " + meta.generated;
  $("importcmd").textContent = "umlsgraph annotate " + meta.query +
    " --labels-file FILE --annotator human:NAME";
  const types = new Set();
  rows.forEach(r => r[col.semantic_types].forEach(t => types.add(t)));
  [...types].sort().forEach(t => { const o = el("option", t); o.value = t; $("type").appendChild(o); });
  let timer = null;
  $("search").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(apply, 150); });
  $("type").addEventListener("change", apply);
  $("show").addEventListener("change", apply);
  $("prev").addEventListener("click", () => { if (page > 0) { page--; render(); } });
  $("next").addEventListener("click", () => { if ((page + 1) * PAGE < view.length) { page++; render(); } });
  $("download").addEventListener("click", download);
  apply();
}
function apply() {
  const q = $("search").value.trim().toLowerCase(), type = $("type").value, show = $("show").value;
  const out = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (q && lower[i].indexOf(q) < 0) continue;
    if (type && r[col.semantic_types].indexOf(type) < 0) continue;
    const m = marks[r[col.cui]];
    if (show === "selected" && !r[col.selected]) continue;
    if (show === "borderline" && r[col.selected]) continue;
    if (show === "marked" && !m) continue;
    if (show === "unmarked" && m) continue;
    if (show === "contradictions" && !r[col.contradiction]) continue;
    out.push(r);
  }
  view = out; page = 0; render();
}
function markButton(r, label, value) {
  const b = el("button", label);
  b.type = "button";
  b.dataset.mark = value;
  if (marks[r[col.cui]] === value) b.classList.add("on");
  b.addEventListener("click", () => {
    const id = r[col.cui];
    if (marks[id] === value) delete marks[id]; else marks[id] = value;
    save(); render();
  });
  return b;
}
function render() {
  const body = document.querySelector("#rows tbody");
  const frag = document.createDocumentFragment();
  for (const r of view.slice(page * PAGE, (page + 1) * PAGE)) {
    const tr = el("tr");
    tr.dataset.cui = r[col.cui];
    const m = marks[r[col.cui]];
    if (m) tr.className = m === meta.positive ? "accept" : "reject";
    const td = el("td");
    td.appendChild(markButton(r, "accept", meta.positive));
    negative.forEach(n => td.appendChild(markButton(r, negative.length > 1 ? "reject: " + n : "reject", n)));
    tr.appendChild(td);
    tr.appendChild(el("td", r[col.cui], "id"));
    tr.appendChild(el("td", r[col.name], "name"));
    tr.appendChild(el("td", r[col.text], "text"));
    tr.appendChild(el("td", r[col.probability] === null ? "" : Number(r[col.probability]).toFixed(3), "num"));
    tr.appendChild(el("td", r[col.selected] ? "selected" :
      (r[col.probability] !== null && r[col.probability] >= meta.borderline ? "borderline" :
       "not selected"), "pred"));
    tr.appendChild(el("td", r[col.annotator_label] === null ? "" :
      r[col.annotator_label] + " (" + r[col.annotator] + ")", "ann"));
    tr.appendChild(el("td", r[col.semantic_types].join(", "), "types"));
    tr.appendChild(el("td", r[col.parents].join("; "), "parents"));
    tr.appendChild(el("td", r[col.contradiction] ? r[col.contradiction] + " (surprise " +
      Number(r[col.surprise]).toFixed(2) + ")" : "", "hier"));
    frag.appendChild(tr);
  }
  body.replaceChildren(frag);
  const pages = Math.max(1, Math.ceil(view.length / PAGE));
  $("pageinfo").textContent = "page " + (page + 1) + " of " + pages + " (" + view.length + " rows)";
  $("marked").textContent = Object.keys(marks).length + " marked";
}
function csvField(v) {
  const s = String(v);
  return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}
function download() {
  const ids = Object.keys(marks).sort();
  const lines = ["id,label"].concat(ids.map(id => csvField(id) + "," + csvField(marks[id])));
  const blob = new Blob([lines.join("\r\n") + "\r\n"], {type: "text/csv"});
  const a = el("a");
  a.href = URL.createObjectURL(blob);
  a.download = "review_labels_" + meta.query.replace(/[^A-Za-z0-9_-]/g, "_") + ".csv";
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
setup();
