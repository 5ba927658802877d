/**
 * The outbox: events wait in storage until the backend acknowledges them.
 *
 * Pure logic with injected dependencies, so it runs under `node --test` and in the service
 * worker alike: `storage` ({get(keys) -> Promise<object>, set(object) -> Promise}),
 * `fetch`, `now()` (ms) and `uuid()`.
 *
 * Guarantees: every event gets its unique `id` once, when queued (the backend is idempotent on
 * it, so a retried batch is never counted twice); an event leaves the queue only after the
 * backend's reply names it accepted, duplicate or rejected (rejections are kept in a short log);
 * failures back off exponentially (the caller wakes us with chrome.alarms at `nextAttemptAt`).
 */

export const QUEUE_KEY = "queue";
export const SYNC_KEY = "sync";
export const REJECTED_KEY = "rejectedLog";
export const MAX_BATCH = 1000;
export const MAX_BATCH_BYTES = 900 * 1024; // the backend takes at most 1 MiB per request
export const MAX_QUEUE = 50000; // beyond this the oldest reads are dropped first, never opens
export const REJECTED_LOG_SIZE = 100;
export const BACKOFF_BASE_MS = 2000;
export const BACKOFF_MAX_MS = 10 * 60 * 1000;

/** Delay before retry number `attempts` (1, 2, ...): 2 s, 4 s, 8 s ... capped at 10 min,
 * with +-20 % jitter from `random()` in [0, 1). */
export function backoffDelay(attempts, random = Math.random) {
  const exp = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(exp * (0.8 + 0.4 * random()));
}

/** Backend base URL + path, without doubled slashes. */
export function apiUrl(backendUrl, path) {
  return backendUrl.replace(/\/+$/, "") + path;
}

export function createQueue({ storage, fetch, now = Date.now, uuid, random = Math.random }) {
  // Every read-modify-write of the queue goes through `serial`, one at a time; flushes go
  // through `oneFlush` (the network call does not block enqueue).
  const chain = () => {
    let lock = Promise.resolve();
    return (fn) => {
      const run = lock.then(fn, fn);
      lock = run.catch(() => {});
      return run;
    };
  };
  const serial = chain();
  const oneFlush = chain();

  async function read() {
    const got = await storage.get([QUEUE_KEY, SYNC_KEY]);
    return { queue: got[QUEUE_KEY] || [], sync: got[SYNC_KEY] || {} };
  }

  /** Queue events (each {type, paper, dwell_ms?, ts?}); returns the queued copies with ids. */
  function enqueue(events) {
    return serial(async () => {
      const { queue } = await read();
      const made = events.map((e) => ({
        ...e,
        id: e.id || uuid(),
        ts: e.ts || new Date(now()).toISOString(),
      }));
      let next = queue.concat(made);
      if (next.length > MAX_QUEUE) {
        // Drop the oldest non-open events first; opens are what matters most.
        let excess = next.length - MAX_QUEUE;
        next = next.filter((e) => excess <= 0 || e.type === "open" || (excess--, false));
        next = next.slice(next.length - MAX_QUEUE);
      }
      await storage.set({ [QUEUE_KEY]: next });
      return made;
    });
  }

  /** Drop queued events matching `predicate` (e.g. all of them, before deleting history). */
  function discard(predicate = () => true) {
    return serial(async () => {
      const { queue } = await read();
      const kept = queue.filter((e) => !predicate(e));
      await storage.set({ [QUEUE_KEY]: kept });
      return queue.length - kept.length;
    });
  }

  async function pending() {
    return (await read()).queue.length;
  }

  function takeBatch(queue, limit) {
    const batch = [];
    let bytes = 20;
    for (const event of queue) {
      const size = JSON.stringify(event).length + 1;
      if (batch.length >= limit || (batch.length && bytes + size > MAX_BATCH_BYTES)) break;
      batch.push(event);
      bytes += size;
    }
    return batch;
  }

  async function setSync(patch) {
    const { sync } = await read();
    const next = { ...sync, ...patch };
    await storage.set({ [SYNC_KEY]: next });
    return next;
  }

  async function fail(error, { retry = true } = {}) {
    const { sync } = await read();
    const attempts = (sync.attempts || 0) + 1;
    return setSync({
      attempts,
      lastError: String(error).slice(0, 300),
      lastErrorAt: now(),
      nextAttemptAt: retry ? now() + backoffDelay(attempts, random) : null,
      unauthorized: !retry,
    });
  }

  /**
   * Send queued events until the queue is empty or the backend fails. Returns
   * {sent, remaining, nextAttemptAt}. `force` ignores the backoff clock (a user's "retry").
   */
  function flush({ backendUrl, token, force = false, timeoutMs = 20000 } = {}) {
    return oneFlush(async () => {
      let sent = 0;
      if (!backendUrl || !token) {
        return { sent, remaining: await pending(), nextAttemptAt: null, notConfigured: true };
      }
      for (;;) {
        const { queue, sync } = await read();
        if (!queue.length) {
          if (sync.attempts || sync.nextAttemptAt || sync.batchLimit) {
            await setSync({ attempts: 0, nextAttemptAt: null, unauthorized: false, batchLimit: null });
          }
          return { sent, remaining: 0, nextAttemptAt: null };
        }
        if (!force && sync.nextAttemptAt && sync.nextAttemptAt > now()) {
          return { sent, remaining: queue.length, nextAttemptAt: sync.nextAttemptAt };
        }
        const batch = takeBatch(queue, Math.min(MAX_BATCH, sync.batchLimit || MAX_BATCH));
        let response;
        let body;
        try {
          response = await fetch(apiUrl(backendUrl, "/api/v1/events"), {
            method: "POST",
            headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
            body: JSON.stringify({ events: batch }),
            signal: AbortSignal.timeout(timeoutMs),
          });
          body = await response.json().catch(() => null);
        } catch (error) {
          const s = await fail(`backend unreachable: ${error && error.message ? error.message : error}`);
          return { sent, remaining: queue.length, nextAttemptAt: s.nextAttemptAt, error: s.lastError };
        }
        const message = body && body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${response.status}`;
        if (response.status === 401 || response.status === 403) {
          // A bad token will not get better by retrying; wait for new settings.
          const s = await fail(`token rejected (${message})`, { retry: false });
          return { sent, remaining: queue.length, nextAttemptAt: null, error: s.lastError, unauthorized: true };
        }
        let done;
        let rejected = [];
        if (response.ok && body && typeof body === "object") {
          done = batch;
          rejected = (body.rejected || []).map((r) => ({ ...r, event: batch[r.index] }));
        } else if ((response.status === 400 || response.status === 413) && batch.length > 1) {
          // The batch as a whole was refused: halve it until the bad event stands alone.
          await setSync({ batchLimit: Math.ceil(batch.length / 2) });
          continue;
        } else if (response.status === 400 || response.status === 413) {
          done = batch;
          rejected = [{ index: 0, code: "bad_request", message, event: batch[0] }];
        } else {
          const s = await fail(`backend error (${message})`);
          return { sent, remaining: queue.length, nextAttemptAt: s.nextAttemptAt, error: s.lastError };
        }
        const doneIds = new Set(done.map((e) => e.id));
        await discard((e) => doneIds.has(e.id));
        if (rejected.length) {
          const got = await storage.get([REJECTED_KEY]);
          const log = (got[REJECTED_KEY] || []).concat(
            rejected.map((r) => ({ at: now(), code: r.code, message: r.message, event: r.event })),
          );
          await storage.set({ [REJECTED_KEY]: log.slice(-REJECTED_LOG_SIZE) });
        }
        sent += done.length - rejected.length;
        await setSync({
          attempts: 0,
          nextAttemptAt: null,
          lastError: null,
          unauthorized: false,
          lastSuccessAt: now(),
        });
      }
    });
  }

  return { enqueue, flush, discard, pending };
}
