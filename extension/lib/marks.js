/**
 * Feedback state ("marks"): which papers this user liked, saved or dismissed, kept in
 * chrome.storage.local under `marks` as {[paper id]: {like?, save?, dismiss?, at}}, so that
 * the panel's buttons show their state after a reload.
 *
 * Pure logic with injected storage ({get(keys), set(object)}) and clock, run by the service
 * worker (which also queues the event, so a mark and its event change together) and tested
 * under node. The server stays the authority where it can tell: its list of saved papers
 * (GET /api/v1/saved) corrects the `save` marks, except for papers whose mark changed after
 * that list was asked for or whose save/unsave is still waiting in the outbox.
 */

export const MARKS_KEY = "marks";
export const MAX_MARKS = 1000;

/** Event type -> [mark, value]: each feedback event sets or clears one mark. */
export const FEEDBACK = Object.freeze({
  like: ["like", true],
  unlike: ["like", false],
  save: ["save", true],
  unsave: ["save", false],
  dismiss: ["dismiss", true],
  undismiss: ["dismiss", false],
});
export const FEEDBACK_TYPES = Object.freeze(Object.keys(FEEDBACK));

/** The event that undoes a pressed mark, or sets an unpressed one: ("like", true) -> "unlike". */
export function toggleEvent(kind, pressed) {
  return pressed ? `un${kind}` : kind;
}

/** Is `kind` ("like" | "save" | "dismiss") set for this paper? */
export function isMarked(marks, paperId, kind) {
  return Boolean(marks && marks[paperId] && marks[paperId][kind]);
}

/** Marks after one feedback event (a new object; `marks` is left alone). */
export function applyFeedback(marks, paperId, type, now = Date.now()) {
  const change = FEEDBACK[type];
  if (!change || typeof paperId !== "string" || !paperId) return marks;
  const [kind, value] = change;
  const next = { ...marks, [paperId]: { ...(marks[paperId] || {}), [kind]: value, at: now } };
  return trimMarks(next);
}

/** At most `max` marks: the ones changed longest ago go first. */
export function trimMarks(marks, max = MAX_MARKS) {
  const ids = Object.keys(marks);
  if (ids.length <= max) return marks;
  ids.sort((a, b) => (marks[a].at || 0) - (marks[b].at || 0));
  const next = { ...marks };
  for (const id of ids.slice(0, ids.length - max)) delete next[id];
  return next;
}

/**
 * Marks corrected by the server's saved papers.
 *
 * - `savedIds`: ids the server listed as saved (the first page of GET /api/v1/saved);
 * - `complete`: that page held every saved paper (then a `save` mark the server does not
 *   list is cleared; otherwise marks are only ever set);
 * - `since`: when the list was asked for (ms); a mark changed at or after it is newer than
 *   the list and kept;
 * - `pendingIds`: papers with a save/unsave still in the outbox; kept too.
 *
 * Entries left with no mark set are dropped once the server agrees.
 */
export function reconcileSaved(marks, { savedIds, complete = false, since, pendingIds = [] }) {
  const saved = new Set(savedIds);
  const pending = new Set(pendingIds);
  const newer = (id) => pending.has(id) || (marks[id] && (marks[id].at || 0) >= since);
  const next = { ...marks };
  let changed = false;
  for (const id of saved) {
    if (newer(id) || isMarked(marks, id, "save")) continue;
    next[id] = { ...(marks[id] || {}), save: true, at: marks[id] ? marks[id].at || since : since };
    changed = true;
  }
  if (complete) {
    for (const [id, mark] of Object.entries(marks)) {
      if (saved.has(id) || newer(id)) continue;
      if (mark.save) {
        next[id] = { ...mark, save: false };
        changed = true;
      }
      if (!next[id].like && !next[id].save && !next[id].dismiss) {
        delete next[id];
        changed = true;
      }
    }
  }
  return changed ? trimMarks(next) : marks;
}

/** Paper ids with a save or unsave waiting in the outbox (`queue`, a list of events). */
export function pendingSaveIds(queue) {
  return [
    ...new Set(
      (Array.isArray(queue) ? queue : [])
        .filter((e) => e && (e.type === "save" || e.type === "unsave") && e.paper && e.paper.id)
        .map((e) => e.paper.id),
    ),
  ];
}

/**
 * The store: every read-change-write of the marks runs one at a time (two clicks in quick
 * succession, a like then a save, must not both read the old marks and drop one).
 * `apply(paperId, type, also)` runs `also()` (queueing the event) inside the same turn.
 */
export function createMarkStore({ storage, now = Date.now }) {
  let lock = Promise.resolve();
  const serial = (fn) => {
    const run = lock.then(fn, fn);
    lock = run.catch(() => {});
    return run;
  };

  async function read() {
    return (await storage.get([MARKS_KEY]))[MARKS_KEY] || {};
  }

  function apply(paperId, type, also = async () => {}) {
    return serial(async () => {
      const marks = applyFeedback(await read(), paperId, type, now());
      await also();
      await storage.set({ [MARKS_KEY]: marks });
      return marks[paperId] || {};
    });
  }

  /** `pending()` gives the outbox's save/unsave paper ids, read inside the same turn. */
  function reconcile({ savedIds, complete, since, pending = async () => [] }) {
    return serial(async () => {
      const marks = await read();
      const next = reconcileSaved(marks, { savedIds, complete, since, pendingIds: await pending() });
      if (next !== marks) await storage.set({ [MARKS_KEY]: next });
      return next;
    });
  }

  function clear() {
    return serial(() => storage.set({ [MARKS_KEY]: {} }));
  }

  return { read, apply, reconcile, clear };
}
