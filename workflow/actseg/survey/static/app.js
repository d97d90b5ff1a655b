// The survey page: asks the participant's unanswered questions one by one, measures the time
// from showing a question (its patch loaded) to submitting it and counts every select and
// unselect of an option. The server validates and stores each answer; a reload resumes at
// the first unanswered question. A `dynamic` state (the human oracle's queue) holds the
// next query only: once it is answered the page asks the server for the next one.
"use strict";

const token = decodeURIComponent(location.pathname.split("/")[2] || "");
const api = (name) => `/api/${encodeURIComponent(token)}/${name}`;
const $ = (id) => document.getElementById(id);

let state = null;     // {participant, class_names, forms: [{id, instruction, multiple, questions}], answered}
let queue = [];       // [{form, formIndex, index, id}] not yet answered
let current = null;
let shownAt = null;   // performance.now() when the current patch appeared
let toggles = 0;

async function request(name, options) {
  const response = await fetch(api(name), options);
  const data = await response.json().catch(() => ({error: `HTTP ${response.status}`}));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function selected() {
  return [...$("options").querySelectorAll("input:checked")].map((input) => Number(input.value));
}

function renderOptions(form) {
  const type = form.multiple ? "checkbox" : "radio";
  $("options").replaceChildren(...state.class_names.map((name, id) => {
    const label = document.createElement("label");
    const input = document.createElement("input");
    Object.assign(input, {type, name: "class", value: String(id)});
    input.dataset.className = name;
    input.addEventListener("change", () => {
      toggles += 1;
      $("submit").disabled = selected().length === 0;
    });
    const text = document.createElement("span");
    text.textContent = ` ${name}`;
    label.append(input, text);
    return label;
  }));
}

function unanswered() {
  const answered = new Set(state.answered);
  return state.forms.flatMap((form, formIndex) => form.questions
    .map((id, index) => ({formIndex, index, id}))
    .filter((q) => !answered.has(q.id)));
}

async function show() {
  current = queue.shift();
  if (!current && state.dynamic) {
    state = await request("state");
    queue = unanswered();
    current = queue.shift();
  }
  if (!current) {
    $("question").hidden = true;
    $("done").hidden = false;
    if (state.message) $("done").textContent = state.message;
    $("progress").textContent = state.dynamic ? (state.status || "") : "Done";
    return;
  }
  const form = state.forms[current.formIndex];
  $("progress").textContent = state.dynamic ? state.status :
    `Form ${current.formIndex + 1} of ${state.forms.length} · ` +
    `Question ${current.index + 1} of ${form.questions.length}`;
  $("instruction").textContent = form.instruction;
  renderOptions(form);
  toggles = 0;
  shownAt = null;
  $("submit").disabled = true;
  $("question").hidden = false;
  $("question").dataset.question = current.id;
  $("patch").src = api(`patch/${encodeURIComponent(current.id)}`);
}

async function submit(event) {
  event.preventDefault();
  const classes = selected();
  if (!current || classes.length === 0 || $("submit").disabled) return;
  const elapsed = Math.round(performance.now() - (shownAt ?? performance.now()));
  $("submit").disabled = true;
  try {
    await request("answer", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({question: current.id, classes, elapsed_ms: elapsed, toggles}),
    });
    $("error").textContent = "";
    await show();
  } catch (err) {
    $("error").textContent = `Not saved: ${err.message}. Please try again.`;
    $("submit").disabled = false;
  }
}

async function start() {
  try {
    state = await request("state");
  } catch (err) {
    $("progress").textContent = "";
    $("error").textContent = err.message;
    return;
  }
  queue = unanswered();
  $("patch").addEventListener("load", () => { shownAt = performance.now(); });
  $("question").addEventListener("submit", submit);
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.tagName === "INPUT") {
      event.preventDefault();
      $("question").requestSubmit();
    }
  });
  await show();
}

start();
