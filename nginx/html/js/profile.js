// profile.js: one profile (profile.html?id=N). The GET records a view after
// the answer; viewCount shown is the cached count (docs/profiles.md bounds).
import { api, count, params, positiveId, showError } from './common.js';

const $ = (id) => document.getElementById(id);

async function load() {
    const raw = params().id;
    // The API validates the id (400 for a bad one); the page asks it as given
    // so its message is the API's own.
    const id = positiveId(raw) || encodeURIComponent(raw || '0');
    const r = await api('GET', `/api/v1/profiles/${id}`);
    if (!r.ok) {
        // 401: the stored member token is expired or refused (the message offers the sign-in)
        const headline = r.status === 404 ? '프로필을 찾을 수 없습니다'
            : r.status === 401 ? '로그인이 필요합니다 (회원 토큰이 만료되었거나 올바르지 않습니다)' : '프로필을 불러오지 못했습니다';
        showError($('message'), r.error, headline);
        document.title = '프로필 없음 · memberapi';
        return;
    }
    const p = r.data;
    document.title = `${p.name} · memberapi`;
    $('name').textContent = p.name;
    $('pid').textContent = p.id;
    $('uid').textContent = p.userId;
    $('created').textContent = p.createdAt;
    $('views').textContent = `${count(p.viewCount)}회`;
    $('views').dataset.count = p.viewCount;
    $('points-link').href = `/points.html?userId=${p.userId}`;
    $('profile').classList.remove('hidden');
}

load();
