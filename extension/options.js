/**
 * Options: backend URL and token (checked against the backend), pause, excluded sites and
 * "delete my history". Settings live in chrome.storage.local: backendUrl, token, paused,
 * excludedSites; setting backendUrl and token from outside is enough to connect.
 */

import { apiUrl } from "./lib/queue.js";
import { cleanBackendUrl, needsHostPermission, originPattern, parseSites } from "./lib/format.js";

const $ = (id) => document.getElementById(id);

function say(id, kind, text) {
  const node = $(id);
  node.className = `status ${kind}`;
  node.textContent = text;
}

async function load() {
  const s = await chrome.storage.local.get(["backendUrl", "token", "paused", "excludedSites"]);
  $("backendUrl").value = s.backendUrl || "http://127.0.0.1:5000";
  $("token").value = s.token || "";
  $("paused").checked = Boolean(s.paused);
  $("excludedSites").value = (s.excludedSites || []).join("\n");
  showQueue();
}

async function showQueue() {
  const status = await chrome.runtime.sendMessage({ type: "status" }).catch(() => null);
  if (!status) return;
  const parts = [`${status.pending} ${status.pending === 1 ? "event" : "events"} waiting to be sent.`];
  if (status.sync && status.sync.lastError) parts.push(`Last problem: ${status.sync.lastError}`);
  $("queue-status").textContent = parts.join(" ");
}

/** GET /api/v1/history?limit=1 with the token: 200 is good, 401 is a bad token. */
async function check(backendUrl, token) {
  try {
    const response = await fetch(apiUrl(backendUrl, "/api/v1/history?limit=1"), {
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10000),
    });
    if (response.ok) return ["ok", "Connected. Your token works."];
    if (response.status === 401 || response.status === 403) return ["bad", "The backend rejected this token."];
    return ["bad", `The backend answered HTTP ${response.status}. Is this a NextPaper server?`];
  } catch (error) {
    return ["bad", `Cannot reach ${backendUrl} (${error.message}).`];
  }
}

$("connection").addEventListener("submit", (event) => {
  event.preventDefault();
  const backendUrl = cleanBackendUrl($("backendUrl").value);
  const token = $("token").value.trim();
  if (!backendUrl) return say("connection-status", "bad", "Enter an http:// or https:// URL.");
  if (!token) return say("connection-status", "bad", "Enter your API token.");
  // Ask for access to a remote backend right away, inside the click (a user gesture). Nothing
  // is saved or contacted until the browser's prompt is answered with "Allow".
  const host = new URL(backendUrl).host;
  let granted = Promise.resolve(true);
  if (needsHostPermission(backendUrl)) {
    granted = chrome.permissions.request({ origins: [originPattern(backendUrl)] });
    say("connection-status", "warn", `Allow access to ${host} in the browser's prompt to connect.`);
  }
  granted
    .then(async (ok) => {
      if (!ok) return say("connection-status", "bad", `Access to ${host} was not allowed, so nothing was saved: the extension cannot reach a backend there without it.`);
      say("connection-status", "", "Checking…");
      const [kind, text] = await check(backendUrl, token);
      await chrome.storage.local.set({ backendUrl, token });
      $("backendUrl").value = backendUrl;
      say("connection-status", kind, kind === "ok" ? text : `${text} Saved anyway.`);
      setTimeout(showQueue, 1500);
    })
    .catch((error) => say("connection-status", "bad", `Nothing was saved: ${error.message || error}`));
});

$("paused").addEventListener("change", async () => {
  await chrome.storage.local.set({ paused: $("paused").checked });
});

$("save-sites").addEventListener("click", async () => {
  const sites = parseSites($("excludedSites").value);
  await chrome.storage.local.set({ excludedSites: sites });
  $("excludedSites").value = sites.join("\n");
  say("sites-status", "ok", sites.length ? `Saved ${sites.length} ${sites.length === 1 ? "site" : "sites"}.` : "Saved.");
});

$("delete").addEventListener("click", () => {
  $("confirm").hidden = false;
  $("delete").hidden = true;
  $("delete-no").focus();
});
$("delete-no").addEventListener("click", () => {
  $("confirm").hidden = true;
  $("delete").hidden = false;
});
$("delete-yes").addEventListener("click", async () => {
  $("confirm").hidden = true;
  $("delete").hidden = false;
  say("delete-status", "", "Deleting…");
  const result = await chrome.runtime.sendMessage({ type: "deleteHistory" });
  if (result && result.ok) say("delete-status", "ok", "Your history was deleted.");
  else say("delete-status", "bad", `Not deleted: ${(result && result.error) || "unknown error"}`);
  showQueue();
});

load();
