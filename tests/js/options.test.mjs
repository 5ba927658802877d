// The options page's "Save and test" for a backend that is not on this machine, when the
// browser's permission prompt is answered. A browser under automation never answers that prompt
// (tests/browser/test_remote_backend.py), so the answers come from a fake `chrome` here; the
// page's own code (extension/options.js) runs unchanged against a few fake elements. Also: a
// token the backend rejects is not saved, one it cannot check is, and whose token it is shows;
// excluded sites are saved only when every entry is a host name (the same page in Chromium:
// tests/browser/test_options.py).
import { test } from "node:test";
import assert from "node:assert/strict";

const IDS = [
  "backendUrl", "token", "paused", "excludedSites", "queue-status", "connection",
  "connection-status", "save-sites", "sites-status", "delete", "confirm", "delete-no",
  "delete-yes", "delete-status", "account",
];
const SAVED = { backendUrl: "http://127.0.0.1:5000", token: "np_old" };

let loads = 0;

/** A fake element: text content only (children are flattened into it). */
function element() {
  return {
    value: "", checked: false, hidden: false, className: "", textContent: "", listeners: {},
    addEventListener(type, fn) { this.listeners[type] = fn; },
    focus() {},
    replaceChildren() { this.textContent = ""; },
    append(...nodes) { this.textContent += nodes.map((n) => (typeof n === "string" ? n : n.textContent)).join(""); },
  };
}

const ME = { user: { user_id: "alice", is_admin: false, created_at: "2026-01-01T00:00:00Z" }, events: [], papers: [] };

/** Load options.js with fresh fake elements; `answer` is what chrome.permissions.request does,
 * `backend(url, token)` what fetch answers (a Response, or throws for an unreachable one). */
async function optionsPage(answer, backend = async () => Response.json(ME), saved = SAVED) {
  const elements = {};
  for (const id of IDS) elements[id] = element();
  const calls = { request: [], set: [], fetch: [] };
  const stored = { ...saved };
  globalThis.document = { getElementById: (id) => elements[id], createElement: element };
  globalThis.chrome = {
    storage: {
      local: {
        async get(keys) {
          return Object.fromEntries(keys.filter((k) => k in stored).map((k) => [k, stored[k]]));
        },
        async set(values) {
          calls.set.push(values);
          Object.assign(stored, values);
        },
      },
    },
    runtime: { sendMessage: async () => ({ pending: 0, sync: {} }) },
    permissions: {
      request(permissions) {
        calls.request.push(permissions);
        return answer();
      },
    },
  };
  globalThis.fetch = async (url, init) => {
    calls.fetch.push([String(url), init.headers.Authorization]);
    return backend(String(url), init.headers.Authorization);
  };
  await import(`../../extension/options.js?load=${++loads}`);
  await settle();
  const loaded = { fetch: calls.fetch.splice(0), account: elements.account.textContent };
  return { elements, calls, stored, loaded };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

function save({ elements }, backendUrl, token) {
  elements.backendUrl.value = backendUrl;
  elements.token.value = token;
  elements.connection.listeners.submit({ preventDefault() {} });
}

test("denied: a clear message, and the saved settings stay as they were", async () => {
  const page = await optionsPage(async () => false);
  save(page, "https://nextpaper.lab.example/", "np_new");
  await settle();
  const status = page.elements["connection-status"];
  assert.equal(status.className, "status bad");
  assert.equal(
    status.textContent,
    "Access to nextpaper.lab.example was not allowed, so nothing was saved: " +
      "the extension cannot reach a backend there without it.",
  );
  assert.deepEqual(page.calls.request, [{ origins: ["https://nextpaper.lab.example/*"] }]);
  assert.deepEqual(page.calls.set, []);
  assert.deepEqual(page.calls.fetch, []);
  assert.deepEqual(page.stored, SAVED);
});

test("the prompt failing (no user gesture, say) saves nothing either", async () => {
  const page = await optionsPage(async () => {
    throw new Error("This function must be called during a user gesture");
  });
  save(page, "https://nextpaper.lab.example:8443", "np_new");
  await settle();
  const status = page.elements["connection-status"];
  assert.equal(status.className, "status bad");
  assert.equal(status.textContent, "Nothing was saved: This function must be called during a user gesture");
  assert.deepEqual(page.calls.request, [{ origins: ["https://nextpaper.lab.example/*"] }]);
  assert.deepEqual(page.stored, SAVED);
});

test("while the prompt is open: it says so, and nothing is saved or contacted", async () => {
  let allow;
  const page = await optionsPage(() => new Promise((resolve) => (allow = resolve)));
  save(page, "https://nextpaper.lab.example:8443/", "np_new");
  await settle();
  assert.equal(page.elements["connection-status"].className, "status warn");
  assert.equal(
    page.elements["connection-status"].textContent,
    "Allow access to nextpaper.lab.example:8443 in the browser's prompt to connect.",
  );
  assert.deepEqual(page.calls.fetch, []);
  assert.deepEqual(page.stored, SAVED);

  allow(true); // allowed: the token is checked at the new backend, then saved
  await settle();
  assert.deepEqual(page.calls.fetch, [
    ["https://nextpaper.lab.example:8443/api/v1/export", "Bearer np_new"],
  ]);
  assert.deepEqual(page.stored, { backendUrl: "https://nextpaper.lab.example:8443", token: "np_new" });
  assert.equal(page.elements["connection-status"].className, "status ok");
});

test("a backend on this machine needs no prompt", async () => {
  const page = await optionsPage(async () => assert.fail("no prompt expected"));
  save(page, "http://localhost:5001", "np_new");
  await settle();
  assert.deepEqual(page.calls.request, []);
  assert.deepEqual(page.stored, { backendUrl: "http://localhost:5001", token: "np_new" });
  assert.equal(page.elements["connection-status"].className, "status ok");
});

test("whose token: shown on loading the page and after saving", async () => {
  const page = await optionsPage(async () => assert.fail("no prompt expected"));
  assert.deepEqual(page.loaded.fetch, [["http://127.0.0.1:5000/api/v1/export", "Bearer np_old"]]);
  assert.equal(page.loaded.account, "This token belongs to alice.");
  save(page, "http://127.0.0.1:5000", "np_new");
  await settle();
  assert.equal(page.elements.account.textContent, "This token belongs to alice.");
  assert.equal(page.elements["connection-status"].textContent, "Connected. Your token works.");
});

test("an admin's token says so; nothing saved yet means nothing asked", async () => {
  const admin = { ...ME, user: { ...ME.user, user_id: "root", is_admin: true } };
  const page = await optionsPage(async () => true, async () => Response.json(admin), {});
  assert.deepEqual(page.loaded.fetch, []);
  assert.equal(page.loaded.account, "");
  save(page, "http://127.0.0.1:5000", "np_root");
  await settle();
  assert.equal(page.elements.account.textContent, "This token belongs to root (an admin).");
});

test("a token the backend rejects is not saved, and says so", async () => {
  const unauthorized = () =>
    Response.json({ error: { code: "unauthorized", message: "bad token", status: 401 } }, { status: 401 });
  const page = await optionsPage(async () => true, async (url, auth) => (auth === "Bearer np_old" ? Response.json(ME) : unauthorized()));
  save(page, "http://127.0.0.1:5000", "np_wrong");
  await settle();
  const status = page.elements["connection-status"];
  assert.equal(status.className, "status bad");
  assert.match(status.textContent, /^The backend rejected this token, so it was not saved\./);
  assert.deepEqual(page.calls.set, []);
  assert.deepEqual(page.stored, SAVED);
  assert.equal(page.elements.account.textContent, "");
});

test("the saved token rejected: the page says so on loading", async () => {
  const page = await optionsPage(async () => true, async () => new Response("{}", { status: 401 }));
  assert.equal(page.loaded.account, "The backend rejects the saved token: enter a new one.");
});

test("a backend that cannot be reached: saved, with a warning", async () => {
  const page = await optionsPage(async () => true, async () => {
    throw new TypeError("Failed to fetch");
  });
  save(page, "http://127.0.0.1:5999", "np_new");
  await settle();
  const status = page.elements["connection-status"];
  assert.equal(status.className, "status warn");
  assert.equal(
    status.textContent,
    "Saved, but not checked: http://127.0.0.1:5999 could not be reached (Failed to fetch). " +
      "The token is checked when the backend answers.",
  );
  assert.deepEqual(page.stored, { backendUrl: "http://127.0.0.1:5999", token: "np_new" });
});

test("excluded sites: a bad entry is named and nothing is saved", async () => {
  const page = await optionsPage(async () => true);
  page.elements.excludedSites.value = "example.com\nnot a host!!";
  await page.elements["save-sites"].listeners.click();
  assert.equal(page.elements["sites-status"].className, "status bad");
  assert.equal(
    page.elements["sites-status"].textContent,
    "Not saved: “not a host!!” is not a host name. Write one host per line or comma, like example.com or *.example.com.",
  );
  assert.deepEqual(page.calls.set, []);
  assert.equal(page.elements.excludedSites.value, "example.com\nnot a host!!"); // left to fix

  page.elements.excludedSites.value = "Example.com, *.private.org\nhttps://secret.net/path\n";
  await page.elements["save-sites"].listeners.click();
  assert.deepEqual(page.stored.excludedSites, ["example.com", "private.org", "secret.net"]);
  assert.equal(page.elements.excludedSites.value, "example.com\nprivate.org\nsecret.net");
  assert.equal(page.elements["sites-status"].textContent, "Saved 3 sites.");
});
