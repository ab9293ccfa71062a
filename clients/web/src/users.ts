/**
 * The dashboard's "Users" page for administrators: the list of users, adding one with a password, editing a user (name,
 * username, group, local only, password), deactivating, activating and deleting (after a confirmation).
 */
import {
  ClientClosedError,
  CommandError,
  describeUserError,
  GROUP_ID_ADMIN,
  GROUP_ID_READ_ONLY,
  GROUP_ID_USER,
  isAdminUser,
  MAX_USER_INPUT_STRING_LENGTH,
  type FlowgateClient,
  type GroupId,
  type UserInfo,
} from '@flowgate/client';
import { h } from './dom.js';
import { notice, setStatus, show } from './view.js';

export interface UsersHost {
  readonly client: () => FlowgateClient;
  /** Back to the signed-in view, with a notice on top. */
  readonly back: (message?: string, kind?: 'info' | 'error') => Promise<void>;
  readonly explain: (error: unknown) => string;
}

interface ListOptions {
  readonly message?: string;
  readonly kind?: 'info' | 'error';
  /** What gets focus once the list is drawn (a selector); default the heading. */
  readonly focus?: string;
}

/** The groups a person picks from: an administrator or a user (read-only is shown only for a user already in it). */
const GROUP_LABELS: ReadonlyArray<[GroupId, string]> = [
  [GROUP_ID_USER, 'User'],
  [GROUP_ID_ADMIN, 'Administrator'],
  [GROUP_ID_READ_ONLY, 'Read-only'],
];

function groupOf(user: UserInfo): GroupId {
  if (isAdminUser(user)) return GROUP_ID_ADMIN;
  return user.group_ids.includes(GROUP_ID_READ_ONLY) && !user.group_ids.includes(GROUP_ID_USER) ? GROUP_ID_READ_ONLY : GROUP_ID_USER;
}

const groupLabel = (group: GroupId): string => GROUP_LABELS.find(([id]) => id === group)?.[1] ?? group;

/** The users list. A failure to load it goes back to the signed-in view with the reason. */
export async function showUsers(host: UsersHost, options: ListOptions = {}): Promise<void> {
  let users: UserInfo[];
  let meId: string;
  try {
    const [list, me] = await Promise.all([host.client().users.list(), host.client().currentUser()]);
    users = list;
    meId = me.id;
  } catch (error) {
    if (!(error instanceof ClientClosedError)) await host.back(explain(host, error), 'error');
    return;
  }
  const add = h('button', { type: 'button', class: 'primary', onclick: () => showCreate(host) }, 'Add a user');
  const table = h(
    'table',
    { class: 'sessions users' },
    h('caption', {}, `${users.length} ${users.length === 1 ? 'user' : 'users'}`),
    h('thead', {}, h('tr', {}, ...['Name', 'Username', 'Group', 'Status'].map((title) => h('th', { scope: 'col' }, title)), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
    h('tbody', {}, ...users.map((user) => userRow(host, user, user.id === meId))),
  );
  const back = h('button', { type: 'button', class: 'link', onclick: () => void host.back() }, 'Back to your account');
  const lead = h('p', { class: 'lead' }, 'Everyone who can sign in. Administrators can manage users.');
  const heading = show('Users', notice(options.message, options.kind), lead, h('div', { class: 'toolbar' }, add), table, h('div', { class: 'actions' }, back));
  const target = options.focus === undefined ? null : document.querySelector<HTMLElement>(options.focus);
  (target ?? heading).focus();
}

function userRow(host: UsersHost, user: UserInfo, isMe: boolean): HTMLTableRowElement {
  const badges = [
    user.is_owner ? h('span', { class: 'badge' }, 'Owner') : null,
    isMe ? h('span', { class: 'badge current' }, 'You') : null,
    user.local_only ? h('span', { class: 'badge' }, 'Local only') : null,
  ];
  const status = h('span', { class: user.is_active ? 'badge on' : 'badge off' }, user.is_active ? 'Active' : 'Deactivated');
  const edit = h('button', { type: 'button', class: 'secondary', 'aria-label': `Edit ${user.name}`, onclick: () => showEdit(host, user, isMe) }, 'Edit');
  const actions: Array<Node | null> = [edit];
  // The owner and oneself keep their account: no buttons, and the reason said instead.
  const reason = user.is_owner ? 'The owner cannot be deactivated or deleted.' : isMe ? 'You cannot deactivate or delete your own account.' : undefined;
  if (reason === undefined) {
    const verb = user.is_active ? 'Deactivate' : 'Activate';
    const toggle = h('button', { type: 'button', class: 'secondary toggle', 'aria-label': `${verb} ${user.name}` }, verb);
    toggle.addEventListener('click', () => void setActive(host, user, toggle));
    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${user.name}`, onclick: () => confirmDelete(host, user) }, 'Delete');
    actions.push(toggle, remove);
  } else actions.push(h('span', { class: 'hint reason' }, reason));
  return h(
    'tr',
    { 'data-user-id': user.id },
    h('td', {}, h('span', { class: 'client' }, user.name), ...badges),
    h('td', {}, user.username ?? h('span', { class: 'hint' }, 'No password')),
    h('td', {}, groupLabel(groupOf(user))),
    h('td', {}, status),
    h('td', { class: 'row-actions' }, ...actions),
  );
}

/** Words for an error: the user-management codes first, then whatever the dashboard says for the rest. */
function explain(host: UsersHost, error: unknown): string {
  return describeUserError(error) ?? host.explain(error);
}

/** Runs `action`; on failure says why (unless the client stopped: the dashboard is drawing the sign-in view then). */
async function attempt(host: UsersHost, action: () => Promise<void>, onError: (text: string, code: string | undefined) => void): Promise<void> {
  try {
    await action();
  } catch (error) {
    if (!(error instanceof ClientClosedError)) onError(explain(host, error), error instanceof CommandError ? error.code : undefined);
  }
}

async function setActive(host: UsersHost, user: UserInfo, button: HTMLButtonElement): Promise<void> {
  button.setAttribute('disabled', '');
  const active = !user.is_active;
  await attempt(
    host,
    async () => {
      await host.client().users.update(user.id, { isActive: active });
      const message = active ? `${user.name} can sign in again.` : `${user.name} is deactivated: signed out everywhere, and cannot sign in until activated again.`;
      await showUsers(host, { message, focus: `tr[data-user-id="${CSS.escape(user.id)}"] button.toggle` });
    },
    (text) => {
      button.removeAttribute('disabled');
      setStatus(text);
    },
  );
}

function confirmDelete(host: UsersHost, user: UserInfo): void {
  const cancel = h('button', { type: 'button', class: 'secondary', onclick: () => void showUsers(host) }, 'Cancel');
  const remove = h('button', { type: 'button', class: 'danger' }, `Delete ${user.name}`);
  const error = h('div', { class: 'alert', role: 'alert', hidden: true });
  remove.addEventListener('click', () => {
    remove.setAttribute('disabled', '');
    void attempt(
      host,
      async () => {
        await host.client().users.delete(user.id);
        await showUsers(host, { message: `${user.name} is deleted.` });
      },
      (text) => {
        remove.removeAttribute('disabled');
        showError(error, text);
      },
    );
  });
  const what = `This removes ${user.name}${user.username === null ? '' : ` (${user.username})`} and signs them out everywhere at once. It cannot be undone.`;
  show(`Delete ${user.name}?`, error, h('p', { class: 'lead' }, what), h('div', { class: 'actions confirm' }, remove, cancel));
  cancel.focus();
}

function showError(alert: HTMLElement, text: string): void {
  alert.textContent = text;
  alert.hidden = false;
}

let fieldCount = 0;

/** A labelled text input (or password input) in a `.field`, bounded as the server bounds it. */
function textField(label: string, name: string, options: { value?: string; type?: 'text' | 'password'; autocomplete?: string; hint?: string } = {}) {
  const id = `user-${name}-${++fieldCount}`;
  const hintId = options.hint === undefined ? null : `${id}-hint`;
  const input = h('input', {
    id,
    name,
    type: options.type ?? 'text',
    required: true,
    maxlength: MAX_USER_INPUT_STRING_LENGTH,
    autocomplete: options.autocomplete ?? 'off',
    spellcheck: 'false',
    value: options.value,
    'aria-describedby': hintId,
  });
  const hint = hintId === null ? null : h('p', { class: 'hint', id: hintId }, options.hint ?? '');
  return { input, element: h('div', { class: 'field' }, h('label', { for: id }, label), hint, input) };
}

function groupField(current: GroupId, locked: string | undefined) {
  const id = `user-group-${++fieldCount}`;
  const choices = GROUP_LABELS.filter(([group]) => group !== GROUP_ID_READ_ONLY || current === GROUP_ID_READ_ONLY);
  const select = h('select', { id, name: 'group', disabled: locked !== undefined, 'aria-describedby': locked === undefined ? null : `${id}-hint` }, ...choices.map(([group, label]) => h('option', { value: group, selected: group === current }, label)));
  const hint = locked === undefined ? h('p', { class: 'hint' }, 'Administrators can manage users.') : h('p', { class: 'hint', id: `${id}-hint` }, locked);
  return { select, element: h('div', { class: 'field' }, h('label', { for: id }, 'Group'), hint, select) };
}

function localOnlyField(checked: boolean) {
  const id = `user-local-${++fieldCount}`;
  const input = h('input', { id, name: 'local_only', type: 'checkbox', checked, 'aria-describedby': `${id}-hint` });
  const hint = h('p', { class: 'hint', id: `${id}-hint` }, 'Can sign in only from this network: loopback, private and link-local addresses.');
  return { input, element: h('div', { class: 'field checkbox' }, input, h('label', { for: id }, 'Local network only'), hint) };
}

/**
 * A form whose submit runs `action` with the button disabled; an error shows in its alert and focuses the field it names.
 * Empty required fields are caught here, so the person is told which one, rather than the server's generic refusal.
 */
function actionForm(host: UsersHost, label: string, submitLabel: string, fields: Array<{ element: HTMLElement }>, action: () => Promise<void>, fieldFor: (code: string | undefined) => HTMLElement | undefined) {
  const alert = h('div', { class: 'alert', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const form = h('form', { novalidate: true, 'aria-label': label }, alert, ...fields.map((f) => f.element), submit);
  const fail = (text: string, control?: HTMLElement): void => {
    showError(alert, text);
    form.querySelectorAll('[aria-invalid]').forEach((element) => element.removeAttribute('aria-invalid'));
    control?.setAttribute('aria-invalid', 'true');
    (control ?? alert).focus();
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const empty = [...form.querySelectorAll<HTMLInputElement>('input[required]')].find((input) => input.value.trim() === '');
    if (empty !== undefined) return fail(`Fill in ${form.querySelector(`label[for="${empty.id}"]`)?.textContent ?? 'every field'}.`, empty);
    submit.setAttribute('disabled', '');
    submit.setAttribute('aria-busy', 'true');
    void attempt(host, action, (text, code) => fail(text, fieldFor(code))).finally(() => {
      submit.removeAttribute('disabled');
      submit.removeAttribute('aria-busy');
    });
  });
  alert.tabIndex = -1;
  return form;
}

function showCreate(host: UsersHost): void {
  const name = textField('Display name', 'name', { autocomplete: 'off' });
  const username = textField('Username', 'username', { hint: 'What they type to sign in.' });
  const password = textField('Password', 'password', { type: 'password', autocomplete: 'new-password' });
  const group = groupField(GROUP_ID_USER, undefined);
  const localOnly = localOnlyField(false);
  const form = actionForm(
    host,
    'New user',
    'Create user',
    [name, username, password, group, localOnly],
    async () => {
      const groupId = group.select.value as GroupId;
      await host.client().users.createWithPassword({ name: name.input.value.trim(), username: username.input.value.trim(), password: password.input.value, groupIds: [groupId], localOnly: localOnly.input.checked });
      await showUsers(host, { message: `${name.input.value.trim()} can now sign in as ${username.input.value.trim()}.` });
    },
    fieldMatcher(username.input, password.input),
  );
  const cancel = h('button', { type: 'button', class: 'link', onclick: () => void showUsers(host) }, 'Cancel');
  show('Add a user', h('p', { class: 'lead' }, 'They sign in with this username and password.'), form, h('div', { class: 'actions' }, cancel));
  name.input.focus();
}

/** The field an error code is about, so focus lands where the person has to change something. */
function fieldMatcher(username: HTMLElement | undefined, password: HTMLElement | undefined) {
  return (code: string | undefined): HTMLElement | undefined => {
    if (code === 'username_already_exists' || code === 'invalid_username' || code === 'auth_not_found') return username;
    return code === 'invalid_password' || code === 'weak_password' ? password : undefined;
  };
}

function showEdit(host: UsersHost, user: UserInfo, isMe: boolean): void {
  const name = textField('Display name', 'name', { value: user.name });
  const username = user.username === null ? undefined : textField('Username', 'username', { value: user.username, hint: 'What they type to sign in.' });
  const group = groupField(groupOf(user), user.is_owner ? 'The owner is always an administrator.' : undefined);
  const localOnly = localOnlyField(user.local_only);
  const details = actionForm(
    host,
    `Details of ${user.name}`,
    'Save changes',
    [name, ...(username === undefined ? [] : [username]), group, localOnly],
    async () => {
      const newGroup = group.select.value as GroupId;
      const newName = name.input.value.trim();
      const newUsername = username?.input.value.trim();
      if (username !== undefined && newUsername !== user.username) await host.client().users.setUsername(user.id, newUsername ?? '');
      const groupChanged = !group.select.disabled && newGroup !== groupOf(user);
      const changes = {
        ...(newName === user.name ? {} : { name: newName }),
        ...(groupChanged ? { groupIds: [newGroup] } : {}),
        ...(localOnly.input.checked === user.local_only ? {} : { localOnly: localOnly.input.checked }),
      };
      if (Object.keys(changes).length > 0) await host.client().users.update(user.id, changes);
      if (isMe && groupChanged && newGroup !== GROUP_ID_ADMIN) return host.back('You are no longer an administrator: the Users page is closed to you.');
      await showUsers(host, { message: `Saved the changes to ${newName}.`, focus: `tr[data-user-id="${CSS.escape(user.id)}"] button` });
    },
    fieldMatcher(username?.input, undefined),
  );
  const cancel = h('button', { type: 'button', class: 'link', onclick: () => void showUsers(host) }, 'Back to users');
  show(`Edit ${user.name}`, details, passwordSection(host, user), h('div', { class: 'actions' }, cancel));
  name.input.focus();
}

/** Sets a new password for a user who has one, or gives a user without one a username and password. */
function passwordSection(host: UsersHost, user: UserInfo): HTMLElement {
  const password = textField('New password', 'password', { type: 'password', autocomplete: 'new-password' });
  if (user.username !== null) {
    const form = actionForm(
      host,
      `Password of ${user.name}`,
      'Set password',
      [password],
      async () => {
        await host.client().users.setPassword(user.id, password.input.value);
        await showUsers(host, { message: `${user.name}'s password is changed: the old one no longer works.` });
      },
      fieldMatcher(undefined, password.input),
    );
    return h('section', { class: 'password-reset', 'aria-label': 'Reset password' }, h('h2', {}, 'Reset password'), h('p', { class: 'hint' }, 'Sets a new password without knowing the old one, and signs them out everywhere. Give it to them in a safe way, not in a plain email.'), form);
  }
  const username = textField('Username', 'username', { hint: 'What they type to sign in.' });
  const form = actionForm(
    host,
    `Password login of ${user.name}`,
    'Add password login',
    [username, password],
    async () => {
      await host.client().users.createPassword(user.id, username.input.value.trim(), password.input.value);
      await showUsers(host, { message: `${user.name} can now sign in as ${username.input.value.trim()}.` });
    },
    fieldMatcher(username.input, password.input),
  );
  return h('section', { class: 'password-reset', 'aria-label': 'Password login' }, h('h2', {}, 'Password login'), h('p', { class: 'hint' }, 'This user has no password yet.'), form);
}
