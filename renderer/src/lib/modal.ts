// Modal dialogs that cover the whole window. A dialog's ::backdrop covers the viewport only, so a page
// taller than the window used to show its bottom undimmed below it (and in full-page screenshots).
// While a modal is open, app.css clips the page to the viewport (html:has(dialog:modal) .shell); this
// keeps the user's scroll position through that: the clipped shell scrolls to where the window was,
// and the window returns there when the last modal closes.
let savedY = 0;

export function installModalScrollKeeper(doc: Document = document): () => void {
  const shell = () => doc.querySelector<HTMLElement>(".shell");
  // beforetoggle fires before the dialog opens (the page is not clipped yet), toggle after it closes.
  const before = (e: Event) => {
    if (
      e.target instanceof HTMLDialogElement &&
      (e as ToggleEvent).newState === "open" &&
      !doc.querySelector("dialog:modal")
    )
      savedY = doc.defaultView?.scrollY ?? 0;
  };
  const after = (e: Event) => {
    if (!(e.target instanceof HTMLDialogElement)) return;
    const s = shell();
    if ((e as ToggleEvent).newState === "open") {
      if (s) s.scrollTop = savedY;
    } else if (!doc.querySelector("dialog:modal")) doc.defaultView?.scrollTo(0, savedY);
  };
  doc.addEventListener("beforetoggle", before, true);
  doc.addEventListener("toggle", after, true);
  return () => {
    doc.removeEventListener("beforetoggle", before, true);
    doc.removeEventListener("toggle", after, true);
  };
}
