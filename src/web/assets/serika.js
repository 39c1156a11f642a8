// The one script of the pages (CSP script-src 'self'). Everything works without it;
// it adds copy buttons, redirect URI rows and the avatar preview.
document.addEventListener('click', async (event) => {
  const target = event.target instanceof Element ? event.target.closest('button') : null;
  if (!target) return;
  if (target.dataset.copy) {
    const source = document.getElementById(target.dataset.copy);
    if (!source) return;
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      target.textContent = 'Copied';
    } catch {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      target.textContent = 'Press Ctrl+C';
    }
    setTimeout(() => { target.textContent = 'Copy'; }, 2000);
  }
  if (target.hasAttribute('data-add-row')) {
    const rows = target.parentElement.querySelector('[data-rows]');
    if (!rows || rows.children.length >= 10) return;
    const row = rows.lastElementChild.cloneNode(true);
    const input = row.querySelector('input');
    const index = rows.children.length;
    input.value = '';
    input.id = 'redirect-' + index;
    row.querySelector('label').htmlFor = input.id;
    row.querySelector('label').textContent = 'Redirect URI ' + (index + 1);
    row.querySelector('[data-remove-row]').setAttribute('aria-label', 'Remove redirect URI ' + (index + 1));
    rows.appendChild(row);
    input.focus();
  }
  if (target.hasAttribute('data-remove-row')) {
    const row = target.closest('[data-row]');
    const rows = row.parentElement;
    if (rows.children.length > 1) row.remove();
    else row.querySelector('input').value = '';
  }
});
document.addEventListener('input', (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || !input.hasAttribute('data-avatar-input')) return;
  const preview = input.form.querySelector('[data-avatar-preview]');
  if (!preview) return;
  const ok = /^https?:\/\/\S+$/.test(input.value);
  preview.hidden = !ok;
  if (ok) preview.src = input.value;
});
