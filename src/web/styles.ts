/** The one stylesheet of every page, served from /assets/serika.css (no third-party assets, UI-03). */
export const STYLESHEET = `
:root { --fg:#1d2330; --muted:#5b6475; --bg:#f5f6fa; --card:#fff; --line:#dde1ea; --accent:#4b3fd1; --accent-fg:#fff; --danger:#b42318; --ok:#067647; }
* { box-sizing: border-box; }
html { font-size: 16px; }
body { margin:0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); line-height:1.5; }
a { color: var(--accent); }
header.top { display:flex; align-items:center; justify-content:space-between; gap:1rem; padding:.75rem 1.25rem; background:var(--card); border-bottom:1px solid var(--line); flex-wrap:wrap; }
header.top .brand { font-weight:700; font-size:1.1rem; color:var(--fg); text-decoration:none; }
header.top form { margin:0; }
main { max-width: 34rem; margin: 2rem auto; padding: 0 1rem; }
main.wide { max-width: 60rem; }
.card { background:var(--card); border:1px solid var(--line); border-radius:12px; padding:1.5rem; box-shadow: 0 1px 2px rgba(16,24,40,.04); }
h1 { font-size:1.5rem; margin:0 0 1rem; }
h2 { font-size:1.15rem; margin:1.5rem 0 .5rem; }
label { display:block; font-weight:600; margin: .9rem 0 .3rem; }
input[type=text], input[type=password], input[type=email], input[type=url], textarea, select { width:100%; padding:.6rem .7rem; font:inherit; border:1px solid var(--line); border-radius:8px; background:#fff; }
input:focus, button:focus, textarea:focus, a:focus { outline: 3px solid rgba(75,63,209,.35); outline-offset: 1px; }
.hint { color:var(--muted); font-size:.9rem; margin:.25rem 0 0; }
.actions { display:flex; gap:.75rem; margin-top:1.25rem; flex-wrap:wrap; }
button { font:inherit; font-weight:600; padding:.6rem 1.1rem; border-radius:8px; border:1px solid var(--accent); background:var(--accent); color:var(--accent-fg); cursor:pointer; }
button.secondary { background:#fff; color:var(--fg); border-color:var(--line); }
button.danger { background:var(--danger); border-color:var(--danger); }
button.link { background:none; border:none; color:var(--accent); padding:0; font-weight:500; text-decoration:underline; }
.error { color:var(--danger); background:#fef3f2; border:1px solid #fecdca; border-radius:8px; padding:.6rem .8rem; margin:0 0 1rem; }
.notice { color:var(--ok); background:#ecfdf3; border:1px solid #abefc6; border-radius:8px; padding:.6rem .8rem; margin:0 0 1rem; }
ul.scopes { list-style:none; padding:0; margin:.5rem 0 0; }
ul.scopes li { padding:.6rem 0; border-top:1px solid var(--line); }
ul.scopes li:first-child { border-top:none; }
ul.scopes strong { display:block; }
.muted { color:var(--muted); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:.9em; word-break:break-all; }
@media (max-width: 480px) { main { margin:1rem auto; } .card { padding:1rem; } .actions button { flex:1 1 auto; } }
`;
