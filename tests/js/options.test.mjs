// The options page's "Save and test" for a backend that is not on this machine, when the
// browser's permission prompt is answered. A browser under automation never answers that prompt
// (tests/browser/test_remote_backend.py), so the answers come from a fake `chrome` here; the
// page's own code (extension/options.js) runs unchanged against a few fake elements.
import { test } from "node:test";
import assert from "node:assert/strict";

const IDS = [
  "backendUrl", "token", "paused", "excludedSites", "queue-status", "connection",
  "connection-status", "save-sites", "sites-status", "delete", "confirm", "delete-no",
  "delete-yes", "delete-status",
];
const SAVED = { backendUrl: "http://127.0.0.1:5000", token: "np_old" };

let loads = 0;

/** Load options.js with fresh fake elements; `answer` is what chrome.permissions.request does. */
async function optionsPage(answer) {
  const elements = {};
  for (const id of IDS) {
    elements[id] = {
      value: "", checked: false, hidden: false, className: "", textContent: "", listeners: {},
      addEventListener(type, fn) { this.listeners[type] = fn; },
      focus() {},
    };
  }
  const calls = { request: [], set: [], fetch: [] };
  const stored = { ...SAVED };
  globalThis.document = { getElementById: (id) => elements[id] };
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
    return new Response(JSON.stringify({ events: [] }), { status: 200 });
  };
  await import(`../../extension/options.js?load=${++loads}`);
  await settle();
  return { elements, calls, stored };
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
    ["https://nextpaper.lab.example:8443/api/v1/history?limit=1", "Bearer np_new"],
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
