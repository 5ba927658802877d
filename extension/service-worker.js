/**
 * NextPaper's background: records opens and reading time, keeps the outbox moving.
 *
 * Listeners are registered at top level and every piece of state lives in chrome.storage
 * (the queue and settings in `local`, per-tab page views in `session`), because the browser
 * stops this worker whenever it is idle. Runs as a Chromium service worker and as a Firefox
 * background script (see firefox/manifest.json).
 */

import { createQueue, QUEUE_KEY, SYNC_KEY, apiUrl } from "./lib/queue.js";
import { paperFromPdfUrl } from "./lib/metadata.js";
import { paperIdFromUrl, normalizeUrl } from "./lib/ids.js";
import { isExcluded } from "./lib/format.js";
import { createMarkStore, FEEDBACK_TYPES, pendingSaveIds } from "./lib/marks.js";
import { badgeFor } from "./lib/badge.js";
import { KEPT_KEY } from "./lib/kept.js";

const ALARM = "nextpaper-flush";
const HEARTBEAT = "nextpaper-heartbeat";
const MIN_DWELL_MS = 1000; // shorter visits are not reads
const MAX_DWELL_MS = 2 * 60 * 60 * 1000; // one segment never counts more than 2 hours
const SETTINGS_KEYS = ["backendUrl", "token", "paused", "excludedSites"];

const queue = createQueue({
  storage: chrome.storage.local,
  fetch: (...args) => fetch(...args),
  uuid: () => crypto.randomUUID(),
});
const marks = createMarkStore({ storage: chrome.storage.local });

async function settings() {
  return chrome.storage.local.get(SETTINGS_KEYS);
}

// --- sending ---------------------------------------------------------------------------------

let timer = null;

/** Send what is queued; schedule the next try (alarm + timer) when the backend failed. */
async function flush({ force = false } = {}) {
  const { backendUrl, token } = await settings();
  const result = await queue.flush({ backendUrl, token, force });
  if (result.nextAttemptAt) {
    const when = Math.max(result.nextAttemptAt, Date.now() + 50);
    // The alarm survives this worker being stopped; the timer is faster while it lives.
    await chrome.alarms.create(ALARM, { when });
    clearTimeout(timer);
    timer = setTimeout(() => flush().catch(report), when - Date.now());
  } else {
    await chrome.alarms.clear(ALARM);
  }
  await showBadges().catch(report);
  return result;
}

function report(error) {
  console.warn("NextPaper:", error);
}

/** Queue events and send them; returns the queued copies (with their ids). */
async function record(events) {
  const made = await queue.enqueue(events);
  await flush().catch(report);
  return made;
}

// --- the toolbar badge ----------------------------------------------------------------------
// session key "badges": {[tabId]: id of the open recorded in that tab}. The badge says whether
// that open has reached the backend (lib/badge.js); it goes when the tab leaves the page.

const action = chrome.action || chrome.browserAction;

/** Show every badged tab's state (after each send, and when a badge is set). */
async function showBadges() {
  if (!action) return;
  const got = await chrome.storage.session.get(["badges"]);
  const badges = got.badges || {};
  if (!Object.keys(badges).length) return;
  const local = await chrome.storage.local.get([QUEUE_KEY, SYNC_KEY]);
  for (const [tab, eventId] of Object.entries(badges)) {
    const tabId = Number(tab);
    const badge = badgeFor(eventId, local[QUEUE_KEY], local[SYNC_KEY]);
    try {
      await action.setBadgeBackgroundColor({ tabId, color: badge.color });
      await action.setBadgeText({ tabId, text: badge.text });
      await action.setTitle({ tabId, title: badge.title });
    } catch {
      /* the tab has gone */
    }
  }
}

async function setBadge(tabId, eventId) {
  const got = await chrome.storage.session.get(["badges"]);
  await chrome.storage.session.set({ badges: { ...(got.badges || {}), [tabId]: eventId } });
  await showBadges();
}

async function clearBadge(tabId) {
  const got = await chrome.storage.session.get(["badges"]);
  const badges = got.badges || {};
  if (!(tabId in badges)) return;
  delete badges[tabId];
  await chrome.storage.session.set({ badges });
  if (!action) return;
  try {
    await action.setBadgeText({ tabId, text: "" });
    const manifest = chrome.runtime.getManifest();
    const title = (manifest.action || manifest.browser_action || {}).default_title || "NextPaper";
    await action.setTitle({ tabId, title }); // back to the manifest's title
  } catch {
    /* the tab has gone */
  }
}

// --- page views and reading time ---------------------------------------------------------------
// session key "views": {[tabId]: {paper, url, activeSince|null, pending?}}; "focus": {windowId}
// or null. A pending view is a paper page seen by its URL whose open waits for the page's own
// report (title, abstract): the report sends it, or the view's end sends it from the URL alone.

async function views() {
  const got = await chrome.storage.session.get(["views"]);
  return got.views || {};
}

let viewLock = Promise.resolve();
/** Page-view state changes run one at a time (tab events arrive in bursts). */
function withViews(fn) {
  const run = viewLock.then(async () => {
    const state = await views();
    const events = [];
    const result = await fn(state, events);
    await chrome.storage.session.set({ views: state });
    if (events.length) {
      const made = await record(events);
      // an open that fn marked for the badge: its tab shows whether it reached the backend
      if (result && result.badge) {
        const { tabId, event } = result.badge;
        delete result.badge;
        await setBadge(tabId, made[events.indexOf(event)].id);
      }
    }
    return result;
  });
  viewLock = run.catch(report);
  return run;
}

/** Close the running active-time segment of a view, queueing a read when it was long enough. */
function stopClock(view, events, now = Date.now()) {
  if (!view || !view.activeSince) return;
  const dwell = Math.min(now - view.activeSince, MAX_DWELL_MS);
  view.activeSince = null;
  if (dwell >= MIN_DWELL_MS) {
    events.push({ type: "read", paper: view.paper, dwell_ms: Math.round(dwell) });
  }
}

/** Is this tab the active tab of the focused window (visible and focused)? */
async function isForeground(tabId) {
  try {
    const tab = await chrome.tabs.get(tabId);
    if (!tab.active) return false;
    const win = await chrome.windows.get(tab.windowId);
    return Boolean(win.focused) && win.state !== "minimized";
  } catch {
    return false;
  }
}

async function allowed(url) {
  const s = await settings();
  return !s.paused && !isExcluded(url, s.excludedSites || []);
}

// Pending opens just sent from the URL alone, by tab: the page's own report may still be on
// its way (sent just before the tab moved on), and must not count the open a second time.
const sentFromUrl = new Map();
const LATE_REPORT_MS = 10_000;

// Every tab event enters `withViews` synchronously, in the order the browser sent it; whatever it
// must look up (settings, the tab's focus) it looks up inside. Decided outside the lock, two
// quick navigations could be applied in the wrong order and lose the first page's open.

/** End the view of `tabId`: its reading time is counted, and a page left before it could
 * report itself (within milliseconds) is still an open, known by its URL. */
async function endView(state, events, tabId) {
  const view = state[tabId];
  if (view && view.pending) {
    events.push({ type: "open", paper: view.paper });
    sentFromUrl.set(tabId, { id: view.paper.id, at: Date.now() });
  }
  stopClock(view, events);
  delete state[tabId];
  await clearBadge(tabId);
}

/** A paper page loaded in a tab (from the content script, or a PDF seen by URL). */
async function openIn(state, events, tabId, paper) {
  if (!(await allowed(paper.url))) return { recorded: false, reason: "paused or excluded" };
  const old = state[tabId];
  const late = sentFromUrl.get(tabId);
  if (late && late.id === paper.id && Date.now() - late.at < LATE_REPORT_MS && !(old && old.paper.id === paper.id)) {
    return { recorded: false, reason: "already recorded from its URL" };
  }
  if (old && old.pending && old.paper.id === paper.id) {
    // The page a pending view was waiting for: its open goes out now, with the metadata.
    old.paper = paper;
    old.url = paper.url;
    delete old.pending;
    const open = { type: "open", paper };
    events.push(open);
    return { recorded: true, badge: { tabId, event: open } };
  }
  if (old && old.paper.id === paper.id && old.url === paper.url) {
    // The same page view reported twice (SPA re-render, PDF + page): keep the richer paper.
    if (paper.title && !old.paper.title) old.paper = paper;
    return { recorded: false, reason: "already recorded" };
  }
  if (old && old.pending && samePage(old.url, paper.url)) {
    delete state[tabId]; // the page it was waiting for, known by another id: one open
  } else if (old) {
    await endView(state, events, tabId); // the tab moved on from another paper
  }
  const foreground = await isForeground(tabId);
  state[tabId] = { paper, url: paper.url, activeSince: foreground ? Date.now() : null };
  const open = { type: "open", paper };
  events.push(open);
  return { recorded: true, badge: { tabId, event: open } };
}

function paperOpened(tabId, paper) {
  return withViews((state, events) => openIn(state, events, tabId, paper));
}

/** A paper page (by its URL) started loading in a tab: its view starts now, pending. */
async function seeIn(state, tabId, url) {
  let id = null;
  try {
    id = paperIdFromUrl(url);
  } catch {
    return;
  }
  if (!id || id.startsWith("url:") || state[tabId] || !(await allowed(url))) return;
  const foreground = await isForeground(tabId);
  state[tabId] = { paper: { id, url }, url, activeSince: foreground ? Date.now() : null, pending: true };
}

/** The tab left its page (closed). */
function viewEnded(tabId) {
  return withViews((state, events) => endView(state, events, tabId));
}

/** Focus moved: only `tabId` (if any) is now visible and focused. */
function focusMoved(tabId) {
  return withViews(async (state, events) => {
    const now = Date.now();
    for (const [id, view] of Object.entries(state)) {
      if (Number(id) !== tabId) stopClock(view, events, now);
      else if (!view.activeSince) view.activeSince = now;
    }
  });
}

async function focusedTab() {
  try {
    const win = await chrome.windows.getLastFocused();
    if (!win.focused || win.state === "minimized") return null;
    const [tab] = await chrome.tabs.query({ active: true, windowId: win.id });
    return tab ? tab.id : null;
  } catch {
    return null;
  }
}

function samePage(a, b) {
  try {
    return normalizeUrl(a) === normalizeUrl(b);
  } catch {
    return false;
  }
}

/** Is `url` (or, without it, a finished load) still the page `view` is about? */
function stillOn(view, url, status) {
  if (!url) return status !== "loading";
  let newId = null;
  try {
    newId = paperIdFromUrl(url);
  } catch {
    /* not http(s) */
  }
  return samePage(view.url, url) || newId === view.paper.id;
}

chrome.tabs.onUpdated.addListener((tabId, change, tab) => {
  // A new document is loading (navigation or reload) or the URL changed (history.pushState).
  // The URL is visible only on hosts the extension has host permissions for (paper sites);
  // elsewhere a "loading" status alone tells that the page is being left.
  if (change.status !== "loading" && !change.url) return;
  const url = change.url || (tab && tab.url) || null;
  withViews(async (state, events) => {
    const view = state[tabId];
    const keep = Boolean(view) && stillOn(view, url, change.status);
    if (view && !keep) await endView(state, events, tabId);
    // The browser's PDF viewer shows no metadata: PDFs are recorded from the URL. Other paper
    // pages report themselves from their content script; until then their view is pending.
    const pdf = url ? paperFromPdfUrl(url) : null;
    if (pdf) return openIn(state, events, tabId, pdf);
    if (url && !keep) await seeIn(state, tabId, url);
  }).catch(report);
});

chrome.tabs.onRemoved.addListener((tabId) => {
  viewEnded(tabId).catch(report);
});

chrome.tabs.onActivated.addListener(async ({ tabId }) => {
  // Only a tab activated in the focused window changes what is being read. A tab becoming
  // active in a window in the background (opened unfocused, or the neighbour of a closed tab)
  // changes nothing: no tab of that window was being read.
  if (await isForeground(tabId)) focusMoved(tabId).catch(report);
});

chrome.windows.onFocusChanged.addListener(async (windowId) => {
  if (windowId === chrome.windows.WINDOW_ID_NONE) return focusMoved(null).catch(report);
  focusMoved(await focusedTab()).catch(report);
});

// --- messages from the content script, side panel and options page ---------------------------

const handlers = {
  async paper(message, sender) {
    const tabId = sender.tab && sender.tab.id;
    if (tabId === undefined || !message.paper || typeof message.paper.id !== "string") {
      return { recorded: false, reason: "no tab or no paper" };
    }
    return paperOpened(tabId, message.paper);
  },
  /** like / save / dismiss and their undoing (unlike, unsave, undismiss) from the side panel:
   * explicit feedback, recorded even when paused. The mark (the button's state, kept in
   * storage) and the queued event change together. */
  async feedback(message) {
    const { event: type, paper } = message;
    if (!FEEDBACK_TYPES.includes(type) || !paper || typeof paper.id !== "string") {
      return { queued: false };
    }
    const small = { id: paper.id };
    for (const k of ["title", "url", "authors", "abstract"]) if (paper[k]) small[k] = paper[k];
    const mark = await marks.apply(paper.id, type, () => queue.enqueue([{ type, paper: small }]));
    flush().catch(report);
    return { queued: true, mark };
  },
  /** The panel fetched the server's saved papers (asked for at `since`): correct the marks. */
  async savedList(message) {
    if (!Array.isArray(message.ids) || typeof message.since !== "number") return { ok: false };
    await marks.reconcile({
      savedIds: message.ids.filter((id) => typeof id === "string"),
      complete: Boolean(message.complete),
      since: message.since,
      pending: async () => pendingSaveIds((await chrome.storage.local.get([QUEUE_KEY]))[QUEUE_KEY]),
    });
    return { ok: true };
  },
  async status() {
    const got = await chrome.storage.local.get([QUEUE_KEY, SYNC_KEY, ...SETTINGS_KEYS]);
    return {
      pending: (got[QUEUE_KEY] || []).length,
      sync: got[SYNC_KEY] || {},
      configured: Boolean(got.backendUrl && got.token),
      paused: Boolean(got.paused),
    };
  },
  async flush() {
    return flush({ force: true });
  },
  async tabPaper(message) {
    const state = await views();
    const view = state[message.tabId];
    return view ? view.paper : null;
  },
  /** Erase everything: events still waiting here first, then the backend's history. */
  async deleteHistory() {
    const dropped = await queue.discard();
    await chrome.storage.session.set({ views: {} });
    for (const tab of Object.keys((await chrome.storage.session.get(["badges"])).badges || {})) {
      await clearBadge(Number(tab)); // those opens are gone
    }
    const { backendUrl, token } = await settings();
    if (!backendUrl || !token) return { ok: false, dropped, error: "Not connected to a backend." };
    try {
      const response = await fetch(apiUrl(backendUrl, "/api/v1/history"), {
        method: "DELETE",
        headers: { Authorization: `Bearer ${token}` },
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        return { ok: false, dropped, status: response.status, error: (body.error && body.error.message) || `HTTP ${response.status}` };
      }
      await marks.clear(); // the likes, saves and dismissals went with the history
      await chrome.storage.local.remove(KEPT_KEY); // and the lists drawn from it
      return { ok: true, dropped, body };
    } catch (error) {
      return { ok: false, dropped, error: `Backend unreachable: ${error.message}` };
    }
  },
};

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  const handler = message && handlers[message.type];
  if (!handler) return false;
  handler(message, sender).then(sendResponse, (error) => sendResponse({ error: String(error) }));
  return true; // reply comes asynchronously
});

// --- waking up ---------------------------------------------------------------------------------

chrome.alarms.onAlarm.addListener((alarm) => {
  if (alarm.name === ALARM || alarm.name === HEARTBEAT) flush().catch(report);
});

chrome.storage.onChanged.addListener((changes, area) => {
  if (area !== "local") return;
  if (changes.backendUrl || changes.token) {
    // New connection settings: forget the old failures and try at once. The kept lists were
    // another connection's (maybe another user's).
    chrome.storage.local
      .remove(KEPT_KEY)
      .then(() => chrome.storage.local.set({ [SYNC_KEY]: {} }))
      .then(() => flush({ force: true }))
      .catch(report);
  }
});

chrome.runtime.onInstalled.addListener(() => {
  chrome.alarms.create(HEARTBEAT, { periodInMinutes: 5 });
});

if (chrome.sidePanel && chrome.sidePanel.setPanelBehavior) {
  chrome.sidePanel.setPanelBehavior({ openPanelOnActionClick: true }).catch(report);
}

// Every start (browser start, or the worker woken after being stopped): send what waits.
chrome.alarms.get(HEARTBEAT).then((a) => a || chrome.alarms.create(HEARTBEAT, { periodInMinutes: 5 }));
flush().catch(report);
