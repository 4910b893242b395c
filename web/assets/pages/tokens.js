// API tokens: the list (never a secret), creation (the secret is shown
// once, in a dialog, and dropped from the page when it closes) and revoking.
import { api } from '../api.js';
import { h, stackTable, clear, field, select, badge, timeEl, toast, confirmDialog, openDialog, showErrors, clearErrors } from '../dom.js';

export async function render(main) {
  const [t, envs, projects] = await Promise.all([api('GET', '/api-tokens'), api('GET', '/environments'), api('GET', '/projects')]);
  const list = h('div', { class: 'panel table-wrap' });
  const name = h('input', { 'data-path': '/tokenName', autocomplete: 'off', spellcheck: 'false', required: true });
  const type = select([['client', 'Client (server-side SDKs)'], ['frontend', 'Frontend (browser SDKs)'], ['admin', 'Admin (this console, CLI, API)']], 'client', { 'data-path': '/type' });
  const role = select([['admin', 'admin'], ['editor', 'editor'], ['viewer', 'viewer']], 'editor', { 'data-path': '/role' });
  const env = select(envs.environments.map((e) => e.name), envs.environments.some((e) => e.name === 'production') ? 'production' : '', { 'data-path': '/environment' });
  const project = select([['*', 'All projects'], ...projects.projects.map((p) => [p.id, p.name || p.id])], '*', { 'data-path': '/projects' });
  const expires = h('input', { type: 'date', 'data-path': '/expiresAt' });
  const roleField = field('Role', role);
  const envField = field('Environment', env);
  const sync = () => { roleField.hidden = type.value !== 'admin'; envField.hidden = type.value === 'admin'; };
  type.addEventListener('change', sync);
  sync();
  const form = h('form', { class: 'panel', novalidate: true },
    h('h2', {}, 'Create a token'),
    h('div', { class: 'row' }, field('Name', name, { class: 'grow' }), field('Kind', type), roleField, envField, field('Projects', project), field('Expires (optional)', expires)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create token')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { tokenName: name.value.trim(), type: type.value, projects: [project.value] };
    if (type.value === 'admin') body.role = role.value; else body.environment = env.value;
    if (expires.value) body.expiresAt = `${expires.value}T23:59:59.000Z`;
    try {
      const created = await api('POST', '/api-tokens', body);
      clearErrors(form);
      name.value = '';
      await showSecret(created);
      await reload();
    } catch (err) {
      showErrors(form, err, { after: form.querySelector('h2') });
    }
  });
  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'API tokens'),
    h('p', { class: 'muted' }, 'Tokens for SDKs (client, frontend) and for people and scripts (admin). A secret is shown once, when it is created.'))), form, list);

  function draw(tokens) {
    clear(list);
    list.append(h('table', {},
      h('thead', {}, h('tr', {}, ['Name', 'Kind', 'Environment', 'Projects', 'Created', 'Expires', 'State', 'Actions'].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, tokens.map((tk) => h('tr', {},
        h('td', {}, tk.tokenName),
        h('td', {}, tk.type, tk.role ? h('div', { class: 'muted small' }, `role ${tk.role}`) : null),
        h('td', {}, tk.environment),
        h('td', {}, (tk.projects || []).join(', ')),
        h('td', {}, timeEl(tk.createdAt)),
        h('td', {}, tk.expiresAt ? timeEl(tk.expiresAt) : 'never'),
        h('td', {}, tk.revoked ? badge('revoked', 'bad') : badge('active', 'ok')),
        h('td', {}, tk.revoked ? null : h('button', { type: 'button', class: 'small danger', 'aria-label': `Revoke token ${tk.tokenName}`, onclick: async (e) => {
          const ok = await confirmDialog({ title: `Revoke ${tk.tokenName}?`, text: 'Anything using this token is refused from now on, and console sessions opened with it end. This cannot be undone.', confirm: 'Revoke', danger: true });
          if (!ok) { e.target.focus(); return; }
          try { await api('DELETE', `/api-tokens/${encodeURIComponent(tk.id)}`); toast(`Token ${tk.tokenName} revoked.`); await reload(); } catch (err) { showErrors(list, err); }
        } }, 'Revoke')))))));
    stackTable(list.querySelector('table'));
  }
  async function reload() { draw((await api('GET', '/api-tokens')).tokens); }
  draw(t.tokens);
}

function showSecret(tk) {
  return openDialog((close) => {
    const input = h('input', { readonly: true, value: tk.secret, 'aria-label': 'The new token\'s secret', class: 'mono' });
    const copied = h('span', { class: 'small muted', 'aria-live': 'polite' });
    return h('div', {},
      h('h2', {}, `Token ${tk.tokenName} created`),
      h('p', { class: 'notice' }, h('strong', {}, 'Copy the secret now. '), 'It is shown only this once: Vexil keeps only its hash and cannot show it again.'),
      h('div', { class: 'secret' }, input,
        h('button', { type: 'button', onclick: async () => {
          input.select();
          try { await navigator.clipboard.writeText(tk.secret); copied.textContent = 'Copied.'; } catch (_e) { copied.textContent = 'Select the text and copy it (Ctrl+C).'; }
        } }, 'Copy')),
      copied,
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'primary', autofocus: true, onclick: () => close(true) }, 'I have copied it')));
  }, { narrow: false });
}
