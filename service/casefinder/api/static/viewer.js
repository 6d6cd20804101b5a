// The document viewer: scroll the marked passage into view and focus it; "back" returns to the search.
document.addEventListener("DOMContentLoaded", () => {
  const p = document.getElementById("passage");
  if (p) { p.scrollIntoView({block: "center"}); p.setAttribute("tabindex", "-1"); p.focus({preventScroll: true}); }
  const back = document.querySelector("a.back");
  if (back && history.length > 1) back.addEventListener("click", (e) => { e.preventDefault(); history.back(); });
});
