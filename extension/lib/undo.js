/**
 * The undo window of the side panel: after a dismissal, one "Undo" is offered for a few
 * seconds or until the user's next action, whichever comes first. At most one is offered at a
 * time; a new offer ends the previous one.
 *
 * Pure (timers injected), unit-tested under node. `onChange(entry | null)` is told whenever
 * the offer shown changes, so the page only draws what this says.
 */

export const UNDO_MS = 8000;

export function createUndo({ ms = UNDO_MS, onChange = () => {}, setTimer = setTimeout, clearTimer = clearTimeout } = {}) {
  let current = null; // {entry, timer}

  function close() {
    if (!current) return null;
    clearTimer(current.timer);
    const { entry } = current;
    current = null;
    onChange(null);
    return entry;
  }

  return {
    /** Offer to undo `entry` (ends any earlier offer). */
    offer(entry) {
      close(); // also clears the earlier offer's timer
      current = { entry, timer: setTimer(close, ms) };
      onChange(entry);
    },
    /** The user pressed Undo: the entry to undo, or null when the window has closed. */
    take: close,
    /** The user did something else (or time ran out): the offer ends, nothing is undone. */
    end() {
      close();
    },
    /** The entry currently offered, or null. */
    get current() {
      return current ? current.entry : null;
    },
  };
}
