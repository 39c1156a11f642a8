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
nav.sections { max-width: 60rem; margin: 1rem auto 0; padding: 0 1rem; }
nav.sections ul { list-style: none; display: flex; flex-wrap: wrap; gap: .25rem .5rem; padding: 0; margin: 0; }
nav.sections a { display: inline-block; padding: .35rem .7rem; border-radius: 999px; text-decoration: none; color: var(--fg); border: 1px solid transparent; }
nav.sections a[aria-current="page"] { background: var(--card); border-color: var(--line); font-weight: 600; }
.dashboard .card { margin-bottom: 1rem; }
main.wide { margin-top: 1rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: 1rem; }
.tile { display: flex; flex-direction: column; gap: .25rem; text-decoration: none; color: var(--fg); }
.tile .count { font-size: 2rem; font-weight: 700; color: var(--accent); }
.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-size: .95rem; }
th, td { text-align: left; padding: .5rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.visually-hidden { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
fieldset { border: 1px solid var(--line); border-radius: 8px; padding: .75rem 1rem 1rem; margin: 1rem 0 0; }
legend { font-weight: 600; padding: 0 .25rem; }
.uri-row { display: flex; gap: .5rem; margin: .5rem 0; }
.uri-row input { flex: 1 1 auto; min-width: 0; }
.check { display: flex; gap: .6rem; align-items: baseline; margin: .5rem 0; }
.check label { display: inline; font-weight: 400; margin: 0; }
.check input { flex: none; }
.field-error { color: var(--danger); margin: .3rem 0 0; font-size: .92rem; }
[aria-invalid="true"] { border-color: var(--danger) !important; }
.secret { background: #fffaeb; border: 1px solid #fedf89; border-radius: 10px; padding: 1rem; margin: 0 0 1rem; }
.copy-row { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
.copy-row code { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .4rem .5rem; flex: 1 1 16rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .4rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
ul.plain { list-style: none; padding: 0; margin: 0; }
ul.item-list { list-style: none; padding: 0; margin: 0; }
ul.item-list li { padding: .7rem 0; border-top: 1px solid var(--line); display: flex; gap: .75rem; align-items: flex-start; flex-wrap: wrap; }
ul.item-list li:first-child { border-top: none; }
.avatar { width: 2.5rem; height: 2.5rem; border-radius: 50%; object-fit: cover; flex: none; }
.avatar.placeholder { display: inline-flex; align-items: center; justify-content: center; background: #eceaff; color: var(--accent); font-weight: 700; }
.avatar-preview { display: block; max-width: 8rem; max-height: 8rem; margin-top: .5rem; border-radius: 8px; border: 1px solid var(--line); }
.button-link { display: inline-block; font-weight: 600; padding: .6rem 1.1rem; border-radius: 8px; border: 1px solid var(--line); background: #fff; color: var(--fg); text-decoration: none; }
.button-link.danger { border-color: var(--danger); color: var(--danger); }
.danger-zone { border-color: #fecdca; }
figure.chart { margin: 0; }
figure.chart svg { width: 100%; height: auto; }
figcaption { display: flex; flex-wrap: wrap; gap: .5rem 1rem; margin-top: .5rem; font-size: .9rem; }
.legend { display: inline-flex; align-items: center; gap: .35rem; }
figure.chart svg.swatch { width: .8rem; height: .8rem; flex: none; }
.card > h1:first-child, .card > h2:first-child { margin-top: 0; }

@media (max-width: 480px) { main { margin:1rem auto; } .card { padding:1rem; } .actions button, .actions .button-link { flex:1 1 auto; text-align:center; } dl.facts { grid-template-columns: 1fr; } dl.facts dd { margin-bottom: .5rem; } th, td { padding: .4rem; } }
`;
