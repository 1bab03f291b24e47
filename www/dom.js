// @ts-check
// Finding the page's elements, typed: `$("rank", HTMLButtonElement)` is a
// button to tsc and is checked to be one when the page runs.

/**
 * The element with this id, of `type` when given (a page that lost or changed
 * an element fails here, by its id, not later on a missing property).
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T, prototype: T }} [type]
 * @returns {T}
 */
export function $(id, type) {
  const found = document.getElementById(id);
  if (!found || (type && !(found instanceof type))) {
    throw new Error(`the page has no ${type ? type.name : "element"} #${id}`);
  }
  return /** @type {T} */ (found);
}
