/**
 * The side panel: "related to this paper" for the current tab's paper, "for you" otherwise.
 * Every string from a page or the backend goes in with textContent; links only after
 * lib/format.js validated them as http(s).
 *
 * `sidepanel.html?paper=<id>` shows the related view for that paper (also handy in a tab).
 */

import { apiUrl } from "./lib/queue.js";
import { paperIdFromUrl } from "./lib/ids.js";
import { paperFromPdfUrl } from "./lib/metadata.js";
import { authorsLine, paperLink, reasonsLine, shorten } from "./lib/format.js";

const $ = (id) => document.getElementById(id);
const MARKS_KEY = "marks";
const MAX_MARKS = 1000;
const params = new URLSearchParams(location.search);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

const send = (message) => chrome.runtime.sendMessage(message);

function setBanner(kind, text, action) {
  const banner = $("banner");
  banner.replaceChildren();
  if (!kind) {
    banner.hidden = true;
    return;
  }
  banner.className = `banner ${kind}`;
  banner.append(el("span", { text }));
  if (action) banner.append(el("button", { type: "button", text: action.label, onclick: action.run }));
  banner.hidden = false;
}

function setState(name, title, text, action) {
  const state = $("state");
  state.replaceChildren();
  if (!name) {
    state.hidden = true;
    state.removeAttribute("data-state");
    return;
  }
  $("items").replaceChildren(); // a state stands in place of the list
  shownPath = null;
  state.dataset.state = name;
  state.append(el("h2", { text: title }), el("p", { text }));
  if (action) state.append(el("button", { type: "button", class: "primary", text: action.label, onclick: action.run }));
  state.hidden = false;
}

const openOptions = () => chrome.runtime.openOptionsPage();

/** The paper in the current tab, if any: what the content script reported, else from its URL. */
async function currentPaper() {
  if (params.get("paper")) return { id: params.get("paper") };
  let tab;
  try {
    [tab] = await chrome.tabs.query({ active: true, lastFocusedWindow: true });
  } catch {
    return null;
  }
  if (!tab || !tab.url || tab.url.startsWith(location.origin)) return null;
  const reported = await send({ type: "tabPaper", tabId: tab.id }).catch(() => null);
  if (reported && reported.id) return reported;
  const pdf = paperFromPdfUrl(tab.url);
  if (pdf) return pdf;
  try {
    const id = paperIdFromUrl(tab.url);
    if (!id.startsWith("url:")) return { id, url: tab.url };
  } catch {
    /* not a web page */
  }
  return null;
}

async function getMarks() {
  return (await chrome.storage.local.get([MARKS_KEY]))[MARKS_KEY] || {};
}

// Marks are read, changed and written back one at a time: two clicks in quick succession
// (a like, then a save) would otherwise both read the old marks and the second write would
// drop the first mark.
let marking = Promise.resolve();

function mark(paperId, what) {
  const written = marking.then(() => writeMark(paperId, what));
  marking = written.catch(() => {});
  return written;
}

async function writeMark(paperId, what) {
  const marks = await getMarks();
  marks[paperId] = { ...(marks[paperId] || {}), [what]: true, at: Date.now() };
  const ids = Object.keys(marks);
  if (ids.length > MAX_MARKS) {
    ids.sort((a, b) => (marks[a].at || 0) - (marks[b].at || 0));
    for (const id of ids.slice(0, ids.length - MAX_MARKS)) delete marks[id];
  }
  await chrome.storage.local.set({ [MARKS_KEY]: marks });
}

function renderItem(item, marks, related) {
  const paper = item && item.paper;
  if (!paper || typeof paper.id !== "string") return null;
  const title = typeof paper.title === "string" && paper.title.trim() ? paper.title : paper.id;
  const href = paperLink(paper);
  const titleNode = href
    ? el("a", { class: "title", href, target: "_blank", rel: "noopener noreferrer", text: title })
    : el("span", { class: "title", text: title });
  const li = el("li", { class: "item", "data-paper-id": paper.id });
  li.append(titleNode);
  const authors = authorsLine(paper.authors);
  if (authors) li.append(el("div", { class: "authors", text: authors }));
  if (typeof paper.abstract === "string" && paper.abstract.trim()) {
    li.append(el("p", { class: "abstract", text: shorten(paper.abstract, 260) }));
  }
  const reason = reasonsLine(item.reasons, { related });
  if (reason) li.append(el("div", { class: "reason", text: reason }));

  const state = marks[paper.id] || {};
  const toggle = (kind, label, doneLabel) => {
    const button = el("button", {
      type: "button",
      class: kind,
      "aria-pressed": state[kind] ? "true" : "false",
      text: state[kind] ? doneLabel : label,
    });
    button.addEventListener("click", async () => {
      if (button.getAttribute("aria-pressed") === "true") return; // a like cannot be taken back
      button.setAttribute("aria-pressed", "true");
      button.textContent = doneLabel;
      await mark(paper.id, kind);
      await send({ type: "feedback", event: kind, paper }).catch(() => null);
    });
    return button;
  };
  const dismiss = el("button", { type: "button", class: "dismiss", title: "Not interested", text: "Dismiss" });
  dismiss.addEventListener("click", async () => {
    li.classList.add("leaving");
    setTimeout(() => {
      li.remove();
      if (!$("items").children.length) showEmpty(related);
    }, 170);
    await mark(paper.id, "dismiss");
    await send({ type: "feedback", event: "dismiss", paper }).catch(() => null);
  });
  li.append(el("div", { class: "actions" }, toggle("like", "♡ Like", "♥ Liked"), toggle("save", "Save", "✓ Saved"), dismiss));
  return li;
}

function showEmpty(related) {
  setState(
    "empty",
    "Nothing to show yet",
    related
      ? "No related papers are known for this one yet."
      : "Open a few papers (arXiv, OpenReview, ACL Anthology…) and suggestions will appear here.",
  );
}

let generation = 0;
let shownPath = null;

async function render() {
  const mine = ++generation;
  const stale = () => mine !== generation;
  const settings = await chrome.storage.local.get(["backendUrl", "token", "paused"]);
  const status = await send({ type: "status" }).catch(() => ({ pending: 0, sync: {} }));
  if (stale()) return;
  setBanner(null);
  $("context").hidden = true;

  if (!settings.backendUrl || !settings.token) {
    $("heading").textContent = "Welcome";
    setState(
      "not-configured",
      "Connect your NextPaper server",
      "Enter your backend URL and API token to start getting suggestions.",
      { label: "Open settings", run: openOptions },
    );
    return;
  }
  if (settings.paused) {
    setBanner("info", "Recording is paused: papers you open are not recorded.", {
      label: "Resume",
      run: async () => {
        await chrome.storage.local.set({ paused: false });
        render();
      },
    });
  }

  const paper = await currentPaper();
  if (stale()) return;
  const related = Boolean(paper);
  $("heading").textContent = related ? "Related to this paper" : "For you";
  if (related) {
    const label = paper.title ? paper.title : paper.id;
    $("context").replaceChildren(el("span", { text: "Because you are reading " }), el("strong", { text: shorten(label, 120) }));
    $("context").hidden = false;
  }
  setState(null);
  const path = related
    ? `/api/v1/papers/${encodeURIComponent(paper.id)}/similar?n=10`
    : "/api/v1/recommendations?n=20";
  // Refreshing the same list keeps it on screen until the new one arrives (no flicker);
  // a different list starts from placeholders.
  if (path !== shownPath || !$("items").querySelector(".item")) {
    $("items").replaceChildren(...[1, 2, 3].map(() => el("li", { class: "skeleton", "aria-hidden": "true" })));
  }
  shownPath = path;
  let response;
  let body;
  try {
    response = await fetch(apiUrl(settings.backendUrl, path), {
      headers: { Authorization: `Bearer ${settings.token}` },
      signal: AbortSignal.timeout(15000),
    });
    body = await response.json().catch(() => null);
  } catch {
    if (stale()) return;
    const n = status.pending || 0;
    setState(
      "unreachable",
      "Can't reach your NextPaper server",
      `${settings.backendUrl} is not answering. ${n} ${n === 1 ? "event is" : "events are"} waiting and will be sent when it is back.`,
      { label: "Try again", run: () => send({ type: "flush" }).catch(() => null).then(render) },
    );
    return;
  }
  if (stale()) return;
  if (response.status === 401 || response.status === 403) {
    setState("unauthorized", "Your token was not accepted", "Check the API token in the settings.", {
      label: "Open settings",
      run: openOptions,
    });
    return;
  }
  if (!response.ok || !body || !Array.isArray(body.items)) {
    const message = body && body.error && body.error.message ? body.error.message : `HTTP ${response.status}`;
    setState("error", "Something went wrong", `The server said: ${message}`, { label: "Try again", run: render });
    return;
  }
  if (status.pending && status.sync && status.sync.lastError) {
    setBanner("warn", `${status.pending} ${status.pending === 1 ? "event is" : "events are"} waiting to be sent.`, {
      label: "Send now",
      run: () => send({ type: "flush" }).catch(() => null).then(render),
    });
  }
  const marks = await getMarks();
  const nodes = body.items
    .filter((item) => item && item.paper && !(marks[item.paper.id] && marks[item.paper.id].dismiss))
    .map((item) => renderItem(item, marks, related))
    .filter(Boolean);
  $("items").replaceChildren(...nodes);
  if (!nodes.length) showEmpty(related);
}

$("refresh").addEventListener("click", () => render());
$("open-options").addEventListener("click", openOptions);

let pendingRender = null;
const soon = () => {
  clearTimeout(pendingRender);
  pendingRender = setTimeout(render, 150);
};
// Opened as a page (not in the side panel), the panel is a tab itself: its own loading is not
// news, and refetching then could replace the list under a click the user is making.
const ownTab = chrome.tabs.getCurrent ? chrome.tabs.getCurrent().catch(() => null) : Promise.resolve(null);
chrome.tabs.onActivated.addListener(soon);
chrome.tabs.onUpdated.addListener(async (id, change) => {
  if (!(change.url || change.status === "complete")) return;
  const own = await ownTab;
  if (!own || own.id !== id) soon();
});
chrome.storage.onChanged.addListener((changes, area) => {
  if (area === "session" && changes.views) soon();
  if (area === "local" && (changes.backendUrl || changes.token || changes.paused)) soon();
});

render();
