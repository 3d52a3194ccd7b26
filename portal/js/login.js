// The login page: password, then a TOTP code, or enrolment of a new TOTP
// secret for users who have none yet.
import { ApiError, apiGet, apiPost, clearCsrfToken, storeCsrfToken } from './api.js';
import { logout, showStatus } from './common.js';

const ENROL_BEGIN_PATH = '/api/enrol/begin';
const ENROL_CONFIRM_PATH = '/api/enrol/confirm';

const REASON_MESSAGES = {
	logged_out: 'You have logged out.',
	login_required: 'Log in to continue.',
};

const status = document.getElementById('status');
const passwordForm = document.getElementById('password-form');
const totpForm = document.getElementById('totp-form');
const enrolSection = document.getElementById('enrol');
const enrolForm = document.getElementById('enrol-form');
const enrolQr = document.getElementById('enrol-qr');
const enrolSecret = document.getElementById('enrol-secret');
const cancelButton = document.getElementById('cancel');
let qrUrl = null;

function showStep(step) {
	passwordForm.hidden = step !== 'password';
	totpForm.hidden = step !== 'totp';
	enrolSection.hidden = step !== 'enrol';
	cancelButton.hidden = step === 'password';
	const focus = { password: 'username', totp: 'totp-code', enrol: 'enrol-code' };
	document.getElementById(focus[step]).focus();
}

function goToProjects() {
	location.assign(new URL('projects.html', location.href).href);
}

// Groups a base32 secret in blocks of four so it is easier to type.
function groupSecret(secret) {
	return secret.replace(/\s+/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}

// Shows the enrolment QR code. The SVG comes from our own server, and an
// <img> renders SVG without running scripts. The Blob URL needs
// "img-src blob:" in the Content-Security-Policy.
function showQrCode(svg) {
	if (qrUrl)
		URL.revokeObjectURL(qrUrl);
	qrUrl = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
	enrolQr.src = qrUrl;
	enrolQr.hidden = false;
}

async function beginEnrolment() {
	const enrolment = await apiPost(ENROL_BEGIN_PATH, {});
	if (typeof enrolment.secret !== 'string')
		throw new ApiError(200, 'The server sent no TOTP secret. Try again.');
	enrolSecret.textContent = groupSecret(enrolment.secret);
	if (typeof enrolment.qr_svg === 'string' && enrolment.qr_svg !== '')
		showQrCode(enrolment.qr_svg);
	showStep('enrol');
}

// Moves on after the password step, by the "state" the server returned.
async function continueLogin(result) {
	switch (result.state) {
	case 'active':
		goToProjects();
		break;
	case 'mfa_required':
		showStatus(status, '');
		showStep('totp');
		break;
	case 'enrol_required':
		showStatus(status, '');
		await beginEnrolment();
		break;
	default:
		throw new ApiError(200, 'The server returned an unknown login state. ' +
			'Reload the page and try again.');
	}
}

// Runs the form's request with its inputs disabled, and shows any error.
async function submitting(form, work) {
	const controls = form.querySelectorAll('input, button');
	controls.forEach((control) => { control.disabled = true; });
	try {
		await work();
	} catch (error) {
		showStatus(status, error.message, 'error');
	} finally {
		controls.forEach((control) => { control.disabled = false; });
	}
}

passwordForm.addEventListener('submit', (event) => {
	event.preventDefault();
	submitting(passwordForm, async () => {
		clearCsrfToken();
		const password = document.getElementById('password');
		const result = await apiPost('/api/login', {
			username: document.getElementById('username').value.trim(),
			password: password.value,
		});
		password.value = '';
		await continueLogin(result);
	});
});

function codeSubmitHandler(form, input, path) {
	return (event) => {
		event.preventDefault();
		submitting(form, async () => {
			const code = input.value.replace(/\s+/g, '');
			try {
				const result = await apiPost(path, { code });
				storeCsrfToken(result.csrf_token);
				goToProjects();
			} catch (error) {
				input.value = '';
				input.focus();
				throw error;
			}
		});
	};
}

totpForm.addEventListener('submit', codeSubmitHandler(totpForm,
	document.getElementById('totp-code'), '/api/login/totp'));
enrolForm.addEventListener('submit', codeSubmitHandler(enrolForm,
	document.getElementById('enrol-code'), ENROL_CONFIRM_PATH));

cancelButton.addEventListener('click', async () => {
	try {
		await logout();
	} catch (error) {
		showStatus(status, `Logging out failed: ${error.message}`, 'error');
		return;
	}
	showStatus(status, REASON_MESSAGES.logged_out);
	showStep('password');
});

// A tab that is still logged in goes straight to the projects.
async function start() {
	const reason = new URLSearchParams(location.search).get('reason');
	if (reason && REASON_MESSAGES[reason])
		showStatus(status, REASON_MESSAGES[reason]);
	showStep('password');
	try {
		await apiGet('/api/me');
		goToProjects();
	} catch (error) {
		if (!(error instanceof ApiError) || error.status !== 401)
			showStatus(status, error.message, 'error');
	}
}

start();
