/**
 * The side panel: "related to this paper" for the current tab's paper, "for you" otherwise,
 * and the "Saved" list (GET /api/v1/saved, a page at a time).
 *
 * Like / save / dismiss show their state from the marks kept in chrome.storage.local (the
 * service worker writes them together with the queued event, see lib/marks.js); pressing a
 * pressed like or save undoes it (unlike / unsave), and a dismissal can be undone for a few
 * seconds (undismiss, lib/undo.js). Every string from a page or the backend goes in with
 * textContent; links only after lib/format.js validated them as http(s).
 *
 * The last answer of each list (For you, Related for a paper) is kept in chrome.storage.local
 * (lib/kept.js) and shown, marked as offline with its age, while the backend cannot be reached.
 *
 * `sidepanel.html?paper=<id>` shows the related view for that paper and `?view=saved` opens on
 * the saved list (also handy in a tab).
 */

import { apiUrl } from "./lib/queue.js";
import { paperIdFromUrl } from "./lib/ids.js";
import { paperFromPdfUrl } from "./lib/metadata.js";
import { authorsLine, reasonsLine, shorten } from "./lib/format.js";
import { paperLink } from "./lib/links.js";
import { MARKS_KEY, isMarked, toggleEvent } from "./lib/marks.js";
import { createUndo } from "./lib/undo.js";
import { KEPT_KEY, ageText, keepList, keptList, listName } from "./lib/kept.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const SAVED_PAGE = 20; // papers per page of the Saved list
const SYNC_PAGE = 200; // saved papers read at start to correct the save marks
const LABELS = {
  like: { off: "♡ Like", on: "♥ Liked", hintOff: "Like this paper", hintOn: "Liked; press again to undo" },
  save: { off: "Save", on: "✓ Saved", hintOff: "Save this paper", hintOn: "Saved; press again to unsave" },
};

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
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const openOptions = () => chrome.runtime.openOptionsPage();

// --- page state (what is on screen; everything that must last is in chrome.storage) ----------

let view = params.get("view") === "saved" ? "saved" : "feed";
let generation = 0; // bumped by every render; an older render's late answer is dropped
let shownPath = null; // the list on screen ("saved" for the Saved list)
let savedTotal = 0;
let savedList = 0; // which Saved list is shown: a page loaded for an older one is dropped

const undo = createUndo({
  onChange(entry) {
    $("undo").hidden = !entry;
    if (entry) $("undo-text").textContent = `Dismissed “${shorten(entry.title, 60)}”`;
  },
});

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

/** A state (empty, error, not configured…) in place of the list. `keep` keeps the list as
 * the one shown (emptied by dismissals): an undone dismissal puts its item back into it. */
function setState(name, title, text, action, { keep = false } = {}) {
  const state = $("state");
  state.replaceChildren();
  if (!name) {
    state.hidden = true;
    state.removeAttribute("data-state");
    return;
  }
  if (!keep) {
    $("items").replaceChildren();
    $("more-row").hidden = true;
    shownPath = null;
  }
  state.dataset.state = name;
  state.append(el("h2", { text: title }), el("p", { text }));
  if (action) state.append(el("button", { type: "button", class: "primary", text: action.label, onclick: action.run }));
  state.hidden = false;
}

function skeletons() {
  $("items").replaceChildren(...[1, 2, 3].map(() => el("li", { class: "skeleton", "aria-hidden": "true" })));
}

/** Which list the items are ("feed" or "saved"; a saved list dims the papers unsaved in it);
 * `offline` when they are a kept answer shown while the backend cannot be reached. */
function showList(name, nodes, { offline = false } = {}) {
  $("items").dataset.list = name;
  if (offline) $("items").dataset.offline = "true";
  else delete $("items").dataset.offline;
  $("items").replaceChildren(...nodes);
}

// --- the backend ----------------------------------------------------------------------------

/** GET a JSON answer: {body} or {problem: "unreachable" | "unauthorized" | "error", message}. */
async function getJson(settings, path) {
  let response;
  let body;
  try {
    response = await fetch(apiUrl(settings.backendUrl, path), {
      headers: { Authorization: `Bearer ${settings.token}` },
      signal: AbortSignal.timeout(15000),
    });
    body = await response.json().catch(() => null);
  } catch {
    return { problem: "unreachable" };
  }
  if (response.status === 401 || response.status === 403) return { problem: "unauthorized" };
  if (!response.ok || !body || typeof body !== "object" || !Array.isArray(body.items)) {
    const message = body && body.error && body.error.message ? body.error.message : `HTTP ${response.status}`;
    return { problem: "error", message };
  }
  return { body };
}

function showProblem(result, settings, status) {
  if (result.problem === "unreachable") {
    const n = status.pending || 0;
    setState(
      "unreachable",
      "Can't reach your NextPaper server",
      `${settings.backendUrl} is not answering.` +
        (n ? ` ${n} ${n === 1 ? "event is" : "events are"} waiting and will be sent when it is back.` : ""),
      { label: "Try again", run: () => send({ type: "flush" }).catch(() => null).then(() => render({ force: true })) },
    );
  } else if (result.problem === "unauthorized") {
    setState("unauthorized", "Your token was not accepted", "Check the API token in the settings.", {
      label: "Open settings",
      run: openOptions,
    });
  } else {
    setState("error", "Something went wrong", `The server said: ${result.message}`, {
      label: "Try again",
      run: () => render({ force: true }),
    });
  }
}

/** Send what the outbox holds first (a save just made must be in the saved list), but never
 * wait long for it: a down backend shows up in the request that follows. */
function flushFirst() {
  return Promise.race([send({ type: "flush" }).catch(() => null), sleep(3000)]);
}

/** Hand the server's saved papers (asked for at `since`) to the worker, which corrects the
 * save marks; `complete` when this page holds all of them. */
function reportSaved(body, since, complete) {
  const ids = body.items.map((i) => i && i.paper && i.paper.id).filter((id) => typeof id === "string");
  return send({ type: "savedList", ids, since, complete }).catch(() => null);
}

async function getMarks() {
  return (await chrome.storage.local.get([MARKS_KEY]))[MARKS_KEY] || {};
}

// --- items ------------------------------------------------------------------------------------

const feedback = (type, paper) => send({ type: "feedback", event: type, paper }).catch(() => null);

function setPressed(button, pressed) {
  const labels = LABELS[button.dataset.kind];
  button.setAttribute("aria-pressed", pressed ? "true" : "false");
  button.textContent = pressed ? labels.on : labels.off;
  button.title = pressed ? labels.hintOn : labels.hintOff;
  const li = button.closest(".item");
  if (li && button.dataset.kind === "save") li.dataset.saved = pressed ? "true" : "false";
}

/** A like or save button showing its state; pressing it sends the event or its undoing. */
function toggle(kind, paper, pressed) {
  const button = el("button", { type: "button", class: kind, "data-kind": kind });
  button.addEventListener("click", () => {
    const pressed = button.getAttribute("aria-pressed") === "true";
    setPressed(button, !pressed);
    feedback(toggleEvent(kind, pressed), paper);
  });
  setPressed(button, pressed);
  return button;
}

/** Title, authors: the top of every card. The title links to the paper's page, or to a
 * search for its title when no page is known (lib/links.js). */
function card(paper) {
  const title = typeof paper.title === "string" && paper.title.trim() ? paper.title : paper.id;
  const link = paperLink(paper);
  const titleNode = link
    ? el("a", {
        class: "title",
        href: link.href,
        target: "_blank",
        rel: "noopener noreferrer",
        "data-link": link.kind,
        ...(link.kind === "search" ? { title: "No page known for this paper: search Google Scholar for its title" } : {}),
        text: title,
      })
    : el("span", { class: "title", text: title });
  const li = el("li", { class: "item", "data-paper-id": paper.id });
  li.append(titleNode);
  const authors = authorsLine(paper.authors);
  if (authors) li.append(el("div", { class: "authors", text: authors }));
  return li;
}

function renderItem(item, marks, related) {
  const paper = item && item.paper;
  if (!paper || typeof paper.id !== "string") return null;
  const li = card(paper);
  if (typeof paper.abstract === "string" && paper.abstract.trim()) {
    li.append(el("p", { class: "abstract", text: shorten(paper.abstract, 260) }));
  }
  const reason = reasonsLine(item.reasons, { related });
  if (reason) li.append(el("div", { class: "reason", text: reason }));
  const dismiss = el("button", { type: "button", class: "dismiss", "aria-pressed": "false", title: "Not interested", text: "Dismiss" });
  dismiss.addEventListener("click", () => dismissItem(li, item, related));
  const like = toggle("like", paper, isMarked(marks, paper.id, "like"));
  const save = toggle("save", paper, isMarked(marks, paper.id, "save"));
  li.append(el("div", { class: "actions" }, like, save, dismiss));
  return li;
}

/** An item of the Saved list: listed by the server, so saved (unless unsaved here, then it is
 * not drawn at all). */
function renderSavedItem(entry) {
  const paper = entry && entry.paper;
  if (!paper || typeof paper.id !== "string") return null;
  const li = card(paper);
  li.dataset.saved = "true";
  const when = savedDate(entry.saved_at);
  if (when) li.append(el("div", { class: "meta", text: `Saved ${when}` }));
  li.append(el("div", { class: "actions" }, toggle("save", paper, true)));
  return li;
}

function savedDate(text) {
  const date = typeof text === "string" ? new Date(text) : null;
  if (!date || Number.isNaN(date.getTime())) return "";
  return date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

function dismissItem(li, item, related) {
  const index = [...$("items").children].indexOf(li);
  li.querySelector("button.dismiss").setAttribute("aria-pressed", "true");
  li.classList.add("leaving");
  setTimeout(() => {
    if (!li.classList.contains("leaving")) return; // undone meanwhile
    li.remove();
    if (!$("items").querySelector(".item")) showEmpty(related, { keep: true });
  }, 170);
  feedback("dismiss", item.paper);
  const title = typeof item.paper.title === "string" && item.paper.title.trim() ? item.paper.title : item.paper.id;
  undo.offer({ item, related, li, index, path: shownPath, title });
}

/** Undo: undismiss, and the item comes back where it was (when its list is still shown). */
async function undoDismiss() {
  const entry = undo.take();
  if (!entry) return;
  const sent = feedback("undismiss", entry.item.paper);
  if (view !== "feed" || shownPath !== entry.path) return sent; // its list is gone; it returns next time
  const { li } = entry;
  li.classList.remove("leaving");
  li.querySelector("button.dismiss").setAttribute("aria-pressed", "false");
  if (!li.isConnected) {
    const items = $("items");
    items.querySelector(`.item[data-paper-id="${CSS.escape(entry.item.paper.id)}"]`)?.remove();
    items.insertBefore(li, items.children[entry.index] || null);
  }
  setState(null);
  await sent;
  showMarks(await getMarks(), [li]);
}

function showEmpty(related, options) {
  setState(
    "empty",
    "Nothing to show yet",
    related
      ? "No related papers are known for this one yet."
      : "Open a few papers (arXiv, OpenReview, ACL Anthology…) and suggestions will appear here.",
    null,
    options,
  );
}

function showSavedEmpty() {
  setState("empty", "No saved papers yet", "Press Save on a suggestion to keep it here. Saved papers are listed newest first.");
}

// --- views ------------------------------------------------------------------------------------

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

function showTabs() {
  for (const [name, tab] of [["feed", $("tab-feed")], ["saved", $("tab-saved")]]) {
    tab.setAttribute("aria-selected", view === name ? "true" : "false");
    tab.tabIndex = view === name ? 0 : -1;
  }
  $("view").setAttribute("aria-labelledby", view === "saved" ? "tab-saved" : "tab-feed");
}

function setView(name) {
  if (name === view) return;
  view = name;
  showTabs();
  // the other list goes at once: placeholders until the new one arrives
  setState(null);
  $("context").hidden = true;
  $("more-row").hidden = true;
  skeletons();
  shownPath = null;
  render({ force: true });
}

/** Draw the current view. The feed is fetched again each time (the paper in the tab may have
 * changed); the Saved list only when `force` (opened, refreshed, new settings). */
async function render({ force = false } = {}) {
  const mine = ++generation;
  const stale = () => mine !== generation;
  const settings = await chrome.storage.local.get(["backendUrl", "token", "paused"]);
  const status = await send({ type: "status" }).catch(() => ({ pending: 0, sync: {} }));
  if (stale()) return;
  setBanner(null);
  showTabs();

  if (!settings.backendUrl || !settings.token) {
    $("tabs").hidden = true;
    $("context").hidden = true;
    setState(
      "not-configured",
      "Connect your NextPaper server",
      "Enter your backend URL and API token to start getting suggestions.",
      { label: "Open settings", run: openOptions },
    );
    return;
  }
  $("tabs").hidden = false;
  if (settings.paused) {
    setBanner("info", "Recording is paused: papers you open are not recorded.", {
      label: "Resume",
      run: async () => {
        await chrome.storage.local.set({ paused: false });
        render();
      },
    });
  }
  if (status.pending && status.sync && status.sync.lastError) {
    setBanner("warn", `${status.pending} ${status.pending === 1 ? "event is" : "events are"} waiting to be sent.`, {
      label: "Send now",
      run: () => send({ type: "flush" }).catch(() => null).then(() => render({ force: true })),
    });
  }

  const paper = await currentPaper();
  if (stale()) return;
  const related = Boolean(paper);
  $("heading").textContent = related ? "Related to this paper" : "For you";
  if (view === "saved") {
    $("context").hidden = true;
    if (force || shownPath !== "saved") await renderSaved(settings, status, stale);
    return;
  }
  if (related) {
    const label = paper.title ? paper.title : paper.id;
    $("context").replaceChildren(el("span", { text: "Because you are reading " }), el("strong", { text: shorten(label, 120) }));
  }
  $("context").hidden = !related;
  await renderFeed(settings, status, stale, paper);
}

async function renderFeed(settings, status, stale, paper) {
  const related = Boolean(paper);
  setState(null);
  $("more-row").hidden = true;
  const path = related
    ? `/api/v1/papers/${encodeURIComponent(paper.id)}/similar?n=10`
    : "/api/v1/recommendations?n=20";
  // Refreshing the same list keeps it on screen until the new one arrives (no flicker);
  // a different list starts from placeholders.
  if (path !== shownPath || !$("items").querySelector(".item")) skeletons();
  shownPath = path;
  const result = await getJson(settings, path);
  if (stale()) return;
  const name = listName(related ? paper.id : null);
  let items;
  let keptAt = null;
  if (result.problem) {
    const kept = result.problem === "unreachable" ? await keptAnswer(name) : null;
    if (stale()) return;
    if (!kept) return showProblem(result, settings, status);
    items = kept.items;
    keptAt = kept.at;
  } else {
    items = result.body.items;
    keep(name, items).catch(() => null);
  }
  const marks = await getMarks();
  if (stale()) return;
  const nodes = items
    .filter((item) => item && item.paper && !isMarked(marks, item.paper.id, "dismiss"))
    .map((item) => renderItem(item, marks, related))
    .filter(Boolean);
  showList("feed", nodes, { offline: keptAt !== null });
  if (keptAt !== null) showOffline(settings, status, keptAt);
  if (!nodes.length) showEmpty(related);
}

/** The kept answer of a list ({at, items}) or null. */
async function keptAnswer(name) {
  return keptList((await chrome.storage.local.get([KEPT_KEY]))[KEPT_KEY], name);
}

/** Keep a list's answer for when the backend is down. */
async function keep(name, items) {
  const kept = (await chrome.storage.local.get([KEPT_KEY]))[KEPT_KEY];
  await chrome.storage.local.set({ [KEPT_KEY]: keepList(kept, name, items, Date.now()) });
}

/** The banner over a kept list: offline, since when, and what waits to be sent. */
function showOffline(settings, status, at) {
  const n = status.pending || 0;
  setBanner(
    "offline",
    `Offline: ${settings.backendUrl} is not answering. This list is from ${ageText(at, Date.now())}.` +
      (n ? ` ${n} ${n === 1 ? "event is" : "events are"} waiting to be sent.` : ""),
    { label: "Try again", run: () => send({ type: "flush" }).catch(() => null).then(() => render({ force: true })) },
  );
}

async function renderSaved(settings, status, stale) {
  setState(null);
  $("more-row").hidden = true;
  $("more-status").textContent = "";
  skeletons();
  shownPath = "saved";
  savedList++;
  await flushFirst();
  if (stale()) return;
  const since = Date.now();
  const result = await getJson(settings, `/api/v1/saved?limit=${SAVED_PAGE}&offset=0`);
  if (stale()) return;
  if (result.problem) return showProblem(result, settings, status);
  const { body } = result;
  savedTotal = Number(body.total) || 0;
  await reportSaved(body, since, body.items.length >= savedTotal);
  const marks = await getMarks();
  if (stale()) return;
  // A paper unsaved here whose unsave the server has not seen yet is not listed.
  const nodes = body.items
    .filter((entry) => entry && entry.paper && !(marks[entry.paper.id] && marks[entry.paper.id].save === false))
    .map((entry) => renderSavedItem(entry))
    .filter(Boolean);
  showList("saved", nodes);
  if (!nodes.length && savedTotal <= body.items.length) return showSavedEmpty();
  $("more-row").hidden = body.items.length >= savedTotal;
}

/** The next page of the Saved list. Its offset is the number of papers shown and still saved
 * (papers unsaved here have left the server's list, re-saved ones went to its top). */
async function loadMore() {
  if (view !== "saved" || shownPath !== "saved") return;
  const mine = savedList;
  const current = () => mine === savedList && view === "saved" && shownPath === "saved";
  const button = $("more");
  if (button.disabled) return;
  button.disabled = true;
  try {
    await loadNextPage(current);
  } finally {
    button.disabled = false;
  }
}

async function loadNextPage(current) {
  $("more-status").textContent = "Loading…";
  const settings = await chrome.storage.local.get(["backendUrl", "token"]);
  await flushFirst();
  const shown = [...$("items").querySelectorAll(".item")];
  const offset = shown.filter((li) => li.dataset.saved === "true").length;
  const since = Date.now();
  const result = await getJson(settings, `/api/v1/saved?limit=${SAVED_PAGE}&offset=${offset}`);
  if (!current()) return;
  if (result.problem) {
    $("more-status").textContent =
      result.problem === "unreachable"
        ? "Can't reach your server. Try again later."
        : result.problem === "unauthorized"
          ? "Your token was not accepted."
          : `The server said: ${result.message}`;
    return;
  }
  const { body } = result;
  savedTotal = Number(body.total) || 0;
  await reportSaved(body, since, false);
  const marks = await getMarks();
  if (!current()) return;
  const ids = new Set(shown.map((li) => li.dataset.paperId));
  const nodes = body.items
    .filter((entry) => entry && entry.paper && !ids.has(entry.paper.id))
    .filter((entry) => !(marks[entry.paper.id] && marks[entry.paper.id].save === false))
    .map((entry) => renderSavedItem(entry))
    .filter(Boolean);
  $("items").append(...nodes);
  $("more-status").textContent = "";
  $("more-row").hidden = offset + body.items.length >= savedTotal;
}

/** Correct the save marks from the server once the panel opens (and after new settings). */
async function syncSavedMarks() {
  const settings = await chrome.storage.local.get(["backendUrl", "token"]);
  if (!settings.backendUrl || !settings.token) return;
  const since = Date.now();
  const result = await getJson(settings, `/api/v1/saved?limit=${SYNC_PAGE}&offset=0`);
  if (!result.problem) await reportSaved(result.body, since, result.body.items.length >= Number(result.body.total));
}

/** Buttons follow the marks (changed by this panel, another panel, or the server's list). */
function showMarks(marks, within = [$("items")]) {
  for (const button of within.flatMap((node) => [...node.querySelectorAll("button[data-kind]")])) {
    const li = button.closest(".item");
    if (li) setPressed(button, isMarked(marks, li.dataset.paperId, button.dataset.kind));
  }
}

// --- wiring -----------------------------------------------------------------------------------

// The undo window ends with the next action: any button or link but the Undo itself.
document.addEventListener(
  "click",
  (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (target && target.closest("button, a") && !target.closest("#undo")) undo.end();
  },
  true,
);
$("undo-button").addEventListener("click", () => undoDismiss());
$("refresh").addEventListener("click", () => render({ force: true }));
$("open-options").addEventListener("click", openOptions);
$("tab-feed").addEventListener("click", () => setView("feed"));
$("tab-saved").addEventListener("click", () => setView("saved"));
$("tabs").addEventListener("keydown", (event) => {
  if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
  setView(view === "feed" ? "saved" : "feed");
  $(view === "feed" ? "tab-feed" : "tab-saved").focus();
});
$("more").addEventListener("click", () => loadMore());

let pendingRender = null;
let pendingForce = false;
const soon = (force = false) => {
  clearTimeout(pendingRender);
  pendingForce = pendingForce || force;
  pendingRender = setTimeout(() => {
    const f = pendingForce;
    pendingForce = false;
    render({ force: f });
  }, 150);
};
// Opened as a page (not in the side panel), the panel is a tab itself: its own loading is not
// news, and refetching then could replace the list under a click the user is making.
const ownTab = chrome.tabs.getCurrent ? chrome.tabs.getCurrent().catch(() => null) : Promise.resolve(null);
chrome.tabs.onActivated.addListener(() => soon());
chrome.tabs.onUpdated.addListener(async (id, change) => {
  if (!(change.url || change.status === "complete")) return;
  const own = await ownTab;
  if (!own || own.id !== id) soon();
});
chrome.storage.onChanged.addListener((changes, area) => {
  if (area === "session" && changes.views) soon();
  if (area === "local" && (changes.backendUrl || changes.token || changes.paused)) soon(true);
  if (area === "local" && (changes.backendUrl || changes.token)) syncSavedMarks().catch(() => null);
  if (area === "local" && changes[MARKS_KEY]) showMarks(changes[MARKS_KEY].newValue || {});
});

render({ force: true });
syncSavedMarks().catch(() => null);
