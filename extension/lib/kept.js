/**
 * The side panel's last answer per list, kept for when the backend cannot be reached.
 *
 * Pure (no DOM, no chrome.*), unit-tested under node; the panel stores the object in
 * chrome.storage.local under KEPT_KEY. Lists are "for-you" and "related:<paper id>" (the
 * related lists of the last MAX_RELATED papers). The service worker drops them all when the
 * backend URL or the token changes (another user's lists) and with "Delete my history".
 */

export const KEPT_KEY = "keptLists";
export const MAX_RELATED = 10;
export const MAX_ITEMS = 20;

/** The kept-list name of the feed on screen: "for-you", or "related:<id>" for a paper's. */
export function listName(paperId) {
  return paperId ? `related:${paperId}` : "for-you";
}

/** `kept` with `name`'s answer replaced by `items` (a successful answer's), seen at `now`. */
export function keepList(kept, name, items, now) {
  const next = { ...(kept && typeof kept === "object" ? kept : {}) };
  next[name] = { at: now, items: (Array.isArray(items) ? items : []).slice(0, MAX_ITEMS) };
  const related = Object.keys(next)
    .filter((key) => key.startsWith("related:"))
    .sort((a, b) => (next[b].at || 0) - (next[a].at || 0));
  for (const key of related.slice(MAX_RELATED)) delete next[key];
  return next;
}

/** The kept answer of list `name`: {at, items}, or null when none is kept. */
export function keptList(kept, name) {
  const entry = kept && typeof kept === "object" ? kept[name] : null;
  if (!entry || typeof entry.at !== "number" || !Array.isArray(entry.items)) return null;
  return entry;
}

/** How old something seen at `at` is, for people: "just now", "5 minutes ago", "yesterday"… */
export function ageText(at, now) {
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  if (seconds < 60) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return minutes === 1 ? "1 minute ago" : `${minutes} minutes ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return hours === 1 ? "1 hour ago" : `${hours} hours ago`;
  const days = Math.round(hours / 24);
  return days === 1 ? "yesterday" : `${days} days ago`;
}
