// Progressive enhancement of the search page: results as you type (debounced), the URL
// kept in step so a list can be shared, and arrow keys through the result cards.
(() => {
  const form = document.getElementById("search-form");
  const input = document.getElementById("q");
  const results = document.getElementById("results");
  if (!form || !input || !results) return;
  let timer = null, inflight = null;

  function urlFor(q) {
    const params = new URLSearchParams(new FormData(form));
    params.set("q", q);
    return "/?" + params.toString();
  }

  async function load(url, push) {
    if (inflight) inflight.abort();
    inflight = new AbortController();
    try {
      const resp = await fetch(url, {headers: {"X-Partial": "1"}, signal: inflight.signal});
      results.innerHTML = await resp.text();
      if (push) history.replaceState(null, "", url);
    } catch (err) {
      if (err.name !== "AbortError") {
        results.innerHTML = '<div class="state error" role="alert"><h2>Søgningen kunne ikke gennemføres</h2><p>Tjek forbindelsen og prøv igen.</p></div>';
      }
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (q.length < 3) return;
    timer = setTimeout(() => load(urlFor(q), true), 300);
  });
  form.addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(timer); load(urlFor(input.value.trim()), true); });

  // Facet links and chips update in place, keeping the URL as the state.
  results.addEventListener("click", (e) => {
    const a = e.target.closest(".facet a, .chip");
    if (!a) return;
    e.preventDefault();
    load(a.getAttribute("href"), true).then(() => {
      const params = new URL(a.href).searchParams;
      form.querySelectorAll("input[type=hidden]").forEach((h) => h.remove());
      for (const [k, v] of params) if (k !== "q") form.insertAdjacentHTML("beforeend", `<input type="hidden" name="${k}" value="${v.replace(/"/g, "&quot;")}">`);
    });
  });

  // Arrow keys move between cards; Enter opens the focused card's source.
  document.addEventListener("keydown", (e) => {
    const cards = [...document.querySelectorAll(".card")];
    if (!cards.length || !["ArrowDown", "ArrowUp", "Enter"].includes(e.key)) return;
    const current = cards.findIndex((c) => c.classList.contains("active"));
    if (e.key === "Enter") {
      if (current >= 0 && document.activeElement === cards[current]) {
        e.preventDefault();
        location.href = cards[current].querySelector("a.source").href;
      }
      return;
    }
    e.preventDefault();
    const next = e.key === "ArrowDown" ? Math.min(cards.length - 1, current + 1) : Math.max(0, current - 1);
    cards.forEach((c) => c.classList.remove("active"));
    cards[next].classList.add("active");
    cards[next].focus();
  });
})();
