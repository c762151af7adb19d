// profiles.js: the profile list (index.html). The state lives in the URL
// (?sort=&size=&page= or &cursor=), so a list can be linked and reloaded:
// number buttons jump with `page`, "다음" continues with the keyset cursor
// (`nextCursor`), as docs/profiles.md recommends for deep pages.
import { api, count, el, params, pager, showError } from './common.js';

const SORTS = ['createdAt,desc', 'createdAt,asc', 'name,asc', 'name,desc', 'viewCount,desc', 'viewCount,asc'];
const SIZES = ['10', '20', '50', '100'];

const $ = (id) => document.getElementById(id);

function state() {
    const p = params();
    return {
        sort: SORTS.includes(p.sort) ? p.sort : 'createdAt,desc',
        size: SIZES.includes(p.size) ? p.size : '10',
        page: /^[0-9]{1,9}$/.test(p.page || '') ? Number(p.page) : 0,
        cursor: p.cursor || null,
    };
}

function go(next, push = true) {
    const q = new URLSearchParams({ sort: next.sort, size: next.size });
    if (next.cursor) q.set('cursor', next.cursor);
    else if (next.page) q.set('page', String(next.page));
    const url = `${window.location.pathname}?${q}`;
    if (push) window.history.pushState(null, '', url);
    load();
}

async function load() {
    const s = state();
    $('sort').value = s.sort;
    $('size').value = s.size;
    $('list').setAttribute('aria-busy', 'true');
    const r = await api('GET', '/api/v1/profiles', {
        query: { sort: s.sort, size: s.size, page: s.cursor ? undefined : s.page, cursor: s.cursor },
    });
    $('list').setAttribute('aria-busy', 'false');
    if (!r.ok) {
        showError($('message'), r.error, '프로필 목록을 불러오지 못했습니다');
        $('rows').replaceChildren();
        $('caption').textContent = '목록 없음';
        $('pager').replaceChildren();
        return;
    }
    $('message').replaceChildren();
    const d = r.data;
    $('caption').textContent = `전체 ${count(d.totalElements)}명 · ${d.page + 1}페이지 (${d.contents.length}명 표시)`;
    $('rows').replaceChildren(...d.contents.map((p) => el('tr', { 'data-id': p.id },
        el('td', {}, el('a', { href: `/profile.html?id=${p.id}` }, p.name)),
        el('td', { class: 'num' }, p.id),
        el('td', { class: 'num' }, el('a', { href: `/points.html?userId=${p.userId}`,
                                             'aria-label': `회원 ${p.userId} 포인트` }, p.userId)),
        el('td', {}, p.createdAt),
        el('td', { class: 'num view-count' }, count(p.viewCount)))));
    $('pager').replaceChildren(pager({
        page: d.page,
        totalPages: d.totalPages,
        hasNext: d.hasNext,
        label: '프로필 페이지',
        onGo: (page) => go({ sort: s.sort, size: s.size, page }),
        onNext: () => go({ sort: s.sort, size: s.size, cursor: d.nextCursor }),
    }));
}

$('sort').addEventListener('change', () => go({ sort: $('sort').value, size: $('size').value, page: 0 }));
$('size').addEventListener('change', () => go({ sort: $('sort').value, size: $('size').value, page: 0 }));
$('controls').addEventListener('submit', (e) => e.preventDefault());
window.addEventListener('popstate', () => load());
load();
