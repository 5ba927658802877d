/**
 * Options: backend URL and token (checked against the backend, which also tells whose token it
 * is), pause, excluded sites and "delete my history". Settings live in chrome.storage.local:
 * backendUrl, token, paused, excludedSites; setting backendUrl and token from outside is enough
 * to connect. A token the backend rejects is never saved; one that could not be checked (the
 * backend is down) is saved with a warning. Excluded sites are saved only when every entry is
 * a host name.
 */

import { apiUrl } from "./lib/queue.js";
import { checkSites, cleanBackendUrl, needsHostPermission, originPattern } from "./lib/format.js";

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
  if (s.backendUrl && s.token) {
    const mine = ++accountCheck;
    showAccount("Checking whose token this is…");
    const answer = await check(s.backendUrl, s.token);
    if (mine !== accountCheck) return; // a save started meanwhile says what it found
    if (answer.kind === "ok") showAccount(...whose(answer.user));
    else if (answer.kind === "rejected") showAccount("The backend rejects the saved token: enter a new one.");
    else showAccount(`Whose token this is could not be checked: ${answer.text}`);
  }
}

let accountCheck = 0; // bumped by every check; an older check's late answer is dropped

/** The line under the connection form: whose token this is ("" for none). `name` is shown
 * in bold (inserted as text). */
function showAccount(text, name = null, after = "") {
  const node = $("account");
  node.replaceChildren();
  if (!name) {
    node.textContent = text;
    return;
  }
  const strong = document.createElement("strong");
  strong.textContent = name;
  node.append(text, strong, after);
}

/** showAccount's arguments for the user the backend named. */
function whose(user) {
  const name = user && typeof user.user_id === "string" ? user.user_id : null;
  if (!name) return ["The backend did not say whose token this is."];
  return ["This token belongs to ", name, user.is_admin ? " (an admin)." : "."];
}

async function showQueue() {
  const status = await chrome.runtime.sendMessage({ type: "status" }).catch(() => null);
  if (!status) return;
  const parts = [`${status.pending} ${status.pending === 1 ? "event" : "events"} waiting to be sent.`];
  if (status.sync && status.sync.lastError) parts.push(`Last problem: ${status.sync.lastError}`);
  $("queue-status").textContent = parts.join(" ");
}

/**
 * Ask the backend whose token this is: GET /api/v1/export, the one route that names the
 * caller (`user.user_id`, `user.is_admin`). Returns {kind: "ok", user} | {kind: "rejected"}
 * (401/403) | {kind: "unreachable", text} | {kind: "error", text} (any other answer).
 */
async function check(backendUrl, token) {
  let response;
  try {
    response = await fetch(apiUrl(backendUrl, "/api/v1/export"), {
      headers: { Authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(15000),
    });
  } catch (error) {
    return { kind: "unreachable", text: `${backendUrl} could not be reached (${error.message}).` };
  }
  if (response.status === 401 || response.status === 403) return { kind: "rejected" };
  if (!response.ok) {
    return { kind: "error", text: `The backend answered HTTP ${response.status}. Is this a NextPaper server?` };
  }
  const body = await response.json().catch(() => null);
  return { kind: "ok", user: body && typeof body === "object" ? body.user : null };
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
      const mine = ++accountCheck;
      showAccount("");
      const answer = await check(backendUrl, token);
      if (answer.kind === "rejected") {
        return say(
          "connection-status",
          "bad",
          "The backend rejected this token, so it was not saved. Check it, or make a new one with “nextpaper users add NAME”.",
        );
      }
      await chrome.storage.local.set({ backendUrl, token });
      $("backendUrl").value = backendUrl;
      if (answer.kind === "ok") {
        say("connection-status", "ok", "Connected. Your token works.");
        if (mine === accountCheck) showAccount(...whose(answer.user));
      } else if (answer.kind === "unreachable") {
        say("connection-status", "warn", `Saved, but not checked: ${answer.text} The token is checked when the backend answers.`);
      } else {
        say("connection-status", "warn", `${answer.text} Saved anyway.`);
      }
      setTimeout(showQueue, 1500);
    })
    .catch((error) => say("connection-status", "bad", `Nothing was saved: ${error.message || error}`));
});

$("paused").addEventListener("change", async () => {
  await chrome.storage.local.set({ paused: $("paused").checked });
});

$("save-sites").addEventListener("click", async () => {
  const { sites, bad } = checkSites($("excludedSites").value);
  if (bad.length) {
    const named = bad.map((entry) => `“${entry}”`).join(", ");
    const what = bad.length === 1 ? "is not a host name" : "are not host names";
    return say("sites-status", "bad", `Not saved: ${named} ${what}. Write one host per line or comma, like example.com or *.example.com.`);
  }
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
