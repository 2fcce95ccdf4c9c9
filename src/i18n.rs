//! The languages of monban's pages (English, Japanese), chosen by the
//! request's `ui_locales` (OIDC Core §3.1.2.1) or `Accept-Language`, and
//! every string the pages show.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Lang {
    #[default]
    En,
    Ja,
}

impl Lang {
    /// `ui_locales` (space-separated, in order of preference) wins over
    /// `Accept-Language` (comma-separated, with q-values); English otherwise.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = ui_locales.and_then(|l| l.split(' ').find_map(Lang::from_tag)) {
            return lang;
        }
        let mut best: Option<(Lang, f32)> = None;
        for item in accept_language.unwrap_or_default().split(',') {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(|t| Lang::from_tag(t.trim())) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
                best = Some((lang, q));
            }
        }
        best.map_or(Lang::En, |(lang, _)| lang)
    }

    fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("ja") {
            Some(Lang::Ja)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ja => "ja",
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::Ja => &JA,
        }
    }
}

/// Every string of every page. A field per string keeps the two languages
/// complete: a missing translation does not compile.
pub struct Texts {
    pub sign_in_title: &'static str,
    pub continue_to_before: &'static str,
    pub continue_to_after: &'static str,
    pub username: &'static str,
    pub password: &'static str,
    pub sign_in: &'static str,
    pub wrong_credentials: &'static str,
    /// `{n}`: minutes.
    pub account_locked: &'static str,
    /// `{n}`: minutes.
    pub address_throttled: &'static str,
    pub account_disabled: &'static str,
    pub form_expired: &'static str,

    pub consent_title: &'static str,
    pub consent_intro_before: &'static str,
    pub consent_intro_after: &'static str,
    /// Around an API's name: the scopes below are for it.
    pub consent_api_before: &'static str,
    pub consent_api_after: &'static str,
    /// An API asked for without scopes.
    pub consent_api_access: &'static str,
    pub scope_openid: &'static str,
    pub scope_profile: &'static str,
    pub scope_email: &'static str,
    pub scope_groups: &'static str,
    pub scope_offline_access: &'static str,
    /// `{scope}`: a scope without a description of its own.
    pub scope_other: &'static str,
    pub signed_in_as: &'static str,
    pub allow: &'static str,
    pub deny: &'static str,
    pub consent_note: &'static str,

    pub logout_title: &'static str,
    pub logout_question: &'static str,
    pub logout_button: &'static str,
    pub stay_signed_in: &'static str,
    pub logged_out_title: &'static str,
    pub logged_out_text: &'static str,

    pub error_title: &'static str,
    pub error_unknown_client: &'static str,
    pub error_bad_redirect_uri: &'static str,
    pub error_bad_return_target: &'static str,
    pub no_access_title: &'static str,
    /// `{user}`: the username.
    pub no_access_text: &'static str,
    pub sign_in_as_someone_else: &'static str,
    pub conflicting_cookies: &'static str,
    pub error_bad_request: &'static str,
    pub error_expired: &'static str,
    pub error_server: &'static str,
    pub error_unavailable: &'static str,
    pub error_too_many_requests: &'static str,
    pub error_reference: &'static str,

    pub continue_button: &'static str,
    pub form_post_note: &'static str,

    pub account_title: &'static str,
    pub profile: &'static str,
    pub name: &'static str,
    pub email: &'static str,
    pub groups: &'static str,
    pub none: &'static str,
    pub sessions: &'static str,
    pub this_session: &'static str,
    pub signed_in_at: &'static str,
    pub expires_at: &'static str,
    pub address: &'static str,
    pub browser: &'static str,
    pub sign_out_everywhere: &'static str,
    pub sign_out: &'static str,
    pub change_password: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub confirm_password: &'static str,
    pub password_changed: &'static str,
    pub password_wrong: &'static str,
    pub password_mismatch: &'static str,
    /// `{n}`: the minimum length.
    pub password_too_short: &'static str,
    pub apps: &'static str,
    pub apps_none: &'static str,
    pub apps_first_party_note: &'static str,
    pub first_party_app: &'static str,
    pub session_apps: &'static str,
    pub revoke: &'static str,
    pub consent_revoked: &'static str,
    pub signed_out_elsewhere: &'static str,

    pub device_title: &'static str,
    pub device_intro: &'static str,
    pub device_code_label: &'static str,
    pub device_continue: &'static str,
    pub device_unknown: &'static str,
    /// `{n}`: minutes.
    pub device_throttled: &'static str,
    pub device_compare: &'static str,
    pub device_approved: &'static str,
    pub device_denied: &'static str,
    pub factor_title: &'static str,
    pub factor_lead: &'static str,
    pub factor_code: &'static str,
    pub factor_recovery_hint: &'static str,
    pub verify: &'static str,
    pub code_wrong: &'static str,
    pub enrol_title: &'static str,
    pub enrol_required: &'static str,
    pub enrol_lead: &'static str,
    pub enrol_key: &'static str,
    pub enrol_uri: &'static str,
    pub recovery_title: &'static str,
    pub recovery_lead: &'static str,
    pub continue_on: &'static str,
    pub mfa_enrolled: &'static str,
    pub mfa_removed: &'static str,
    pub mfa_already: &'static str,
    pub mfa_totp: &'static str,
    pub mfa_added: &'static str,
    pub mfa_last_used: &'static str,
    pub mfa_codes_left: &'static str,
    pub mfa_none: &'static str,
    pub mfa_confirm_password: &'static str,
    pub mfa_regenerate: &'static str,
    pub mfa_remove: &'static str,
    pub mfa_set_up: &'static str,
    pub device_needs_mfa: &'static str,
    pub passkey_lead: &'static str,
    pub passkey_failed: &'static str,
    pub passkey_clone: &'static str,
    pub use_passkey: &'static str,
    pub passkey_needs_script: &'static str,
    pub passkey_needed: &'static str,
    pub sign_in_with_passkey: &'static str,
    pub passkey_add: &'static str,
    pub passkey_name: &'static str,
    pub passkey_which: &'static str,
    pub passkey_added: &'static str,
    pub passkey_removed: &'static str,
    pub passkey_remove: &'static str,
    pub passkey_synced: &'static str,
    pub passkey_device_bound: &'static str,
}

pub static EN: Texts = Texts {
    sign_in_title: "Sign in",
    continue_to_before: "to continue to ",
    continue_to_after: "",
    username: "Username",
    password: "Password",
    sign_in: "Sign in",
    wrong_credentials: "Incorrect username or password.",
    account_locked: "Too many failed attempts for this account. Try again in {n} minutes.",
    address_throttled: "Too many failed sign-in attempts from your network. Try again in {n} minutes.",
    account_disabled: "This account is disabled. Contact your administrator.",
    form_expired: "This form has expired. Please try again.",

    consent_title: "Allow access?",
    consent_intro_before: "",
    consent_intro_after: " would like to:",
    consent_api_before: "At ",
    consent_api_after: ":",
    consent_api_access: "Use it as you",
    scope_openid: "Sign you in with your account",
    scope_profile: "See your name and username",
    scope_email: "See your email address",
    scope_groups: "See the groups you belong to",
    scope_offline_access: "Keep access while you are not using it",
    scope_other: "Use “{scope}”",
    signed_in_as: "Signed in as",
    allow: "Allow",
    deny: "Deny",
    consent_note: "You can withdraw this permission at any time on your account page.",

    logout_title: "Sign out",
    logout_question: "Sign out of your account on this device, and of every app you signed in to with it?",
    logout_button: "Sign out",
    stay_signed_in: "Stay signed in",
    logged_out_title: "Signed out",
    logged_out_text: "You are signed out. You can close this window.",

    error_title: "Something went wrong",
    error_unknown_client: "The application that sent you here is not registered.",
    error_bad_redirect_uri: "The application asked to return to an address it has not registered, so you were not sent back.",
    error_bad_return_target: "You were to be sent on to an address outside the sites this sign-in serves, so you were not sent there.",
    no_access_title: "No access",
    no_access_text: "You are signed in as {user}, and this page is not open to you.",
    sign_in_as_someone_else: "Sign in as someone else",
    conflicting_cookies: "Your browser holds sign-in cookies of more than one session for this site, possibly set by another site of the domain. Clear this site's cookies, then sign in again.",
    error_bad_request: "The sign-in request is not valid.",
    error_expired: "This sign-in request has expired. Go back to the application and start again.",
    error_server: "The server could not complete your request. Please try again later.",
    error_unavailable: "Sign-in is briefly unavailable. Please try again in a few seconds.",
    error_too_many_requests: "Too many requests from your network. Please wait a moment and try again.",
    error_reference: "Details",

    continue_button: "Continue",
    form_post_note: "Your browser has JavaScript turned off: press Continue to return to the application.",

    account_title: "Your account",
    profile: "Profile",
    name: "Name",
    email: "Email",
    groups: "Groups",
    none: "None",
    sessions: "Where you are signed in",
    this_session: "This device",
    signed_in_at: "Signed in",
    expires_at: "Ends",
    address: "Address",
    browser: "Browser",
    sign_out_everywhere: "Sign out everywhere",
    sign_out: "Sign out",
    change_password: "Change password",
    current_password: "Current password",
    new_password: "New password",
    confirm_password: "Repeat new password",
    password_changed: "Your password has been changed.",
    password_wrong: "The current password is not correct.",
    password_mismatch: "The new passwords do not match.",
    password_too_short: "The new password must have at least {n} characters.",
    apps: "Apps you allowed",
    apps_none: "You have not allowed any app yet.",
    apps_first_party_note: "Your organisation's own apps never ask you: they are listed here while you are signed in to them or they keep access.",
    first_party_app: "Your organisation's own app: allowed without asking you.",
    session_apps: "Signed in to",
    revoke: "Revoke",
    consent_revoked: "Access revoked.",
    device_title: "Connect a device",
    device_intro: "Enter the code your device shows.",
    device_code_label: "Code",
    device_continue: "Continue",
    device_unknown: "That code is not valid or has expired. Check the code on your device.",
    device_throttled: "Too many wrong codes. Try again in {n} minutes.",
    device_compare: "Check that your device shows this code:",
    device_approved: "Done. You can return to your device.",
    device_denied: "Denied. The device was not given access.",
    signed_out_elsewhere: "Your other sessions have been signed out.",
    factor_title: "Two-step verification",
    factor_lead: "Enter the 6-digit code your authenticator app shows.",
    factor_code: "Code",
    factor_recovery_hint: "No access to your app? Enter one of your recovery codes instead.",
    verify: "Verify",
    code_wrong: "That code is not right, or it was already used. Wait for the next one and try again.",
    enrol_title: "Set up an authenticator app",
    enrol_required: "Signing in here needs a second factor.",
    enrol_lead: "Scan the QR code with an authenticator app (or type the key in), then enter the code it shows.",
    enrol_key: "Key",
    enrol_uri: "Setup link",
    recovery_title: "Recovery codes",
    recovery_lead: "Each code signs you in once if you cannot use your authenticator app. Keep them somewhere safe: they are shown only now.",
    continue_on: "Continue",
    mfa_enrolled: "The authenticator app is set up.",
    mfa_removed: "The authenticator app was removed.",
    mfa_already: "An authenticator app is already set up. Remove it first to set up another.",
    mfa_totp: "Authenticator app",
    mfa_added: "Added",
    mfa_last_used: "last used",
    mfa_codes_left: "{n} unused codes left",
    mfa_none: "No second factor is set up.",
    mfa_confirm_password: "Confirm with your password",
    mfa_regenerate: "New recovery codes",
    mfa_remove: "Remove the app",
    mfa_set_up: "Set up an authenticator app",
    device_needs_mfa: "This app needs a sign-in with a second factor. Set one up on your account page, then try again.",
    passkey_lead: "Use your passkey to finish signing in.",
    passkey_failed: "The passkey did not work here. Try again, or use another way to sign in.",
    passkey_clone: "This passkey was refused: its signature counter went back, so it may have been copied. Use another way to sign in and tell your administrator.",
    use_passkey: "Use a passkey",
    passkey_needs_script: "A passkey needs JavaScript in this browser.",
    passkey_needed: "This app asks for a passkey: a code is not enough.",
    sign_in_with_passkey: "Sign in with a passkey",
    passkey_add: "Add a passkey",
    passkey_name: "Name (e.g. the device it is on)",
    passkey_which: "Passkey",
    passkey_added: "The passkey was added.",
    passkey_removed: "The passkey was removed.",
    passkey_remove: "Remove the passkey",
    passkey_synced: "synced",
    passkey_device_bound: "this device only",
};

pub static JA: Texts = Texts {
    sign_in_title: "サインイン",
    continue_to_before: "",
    continue_to_after: " に進むにはサインインしてください",
    username: "ユーザー名",
    password: "パスワード",
    sign_in: "サインイン",
    wrong_credentials: "ユーザー名またはパスワードが正しくありません。",
    account_locked: "このアカウントへのサインインの失敗が多すぎます。{n} 分後にもう一度お試しください。",
    address_throttled: "お使いのネットワークからのサインインの失敗が多すぎます。{n} 分後にもう一度お試しください。",
    account_disabled: "このアカウントは無効になっています。管理者にお問い合わせください。",
    form_expired: "このフォームの有効期限が切れました。もう一度お試しください。",

    consent_title: "アクセスを許可しますか？",
    consent_intro_before: "",
    consent_intro_after: " が次のことを求めています:",
    consent_api_before: "",
    consent_api_after: " で:",
    consent_api_access: "あなたとして利用する",
    scope_openid: "あなたのアカウントでサインインする",
    scope_profile: "あなたの名前とユーザー名を見る",
    scope_email: "あなたのメールアドレスを見る",
    scope_groups: "あなたが所属するグループを見る",
    scope_offline_access: "あなたが使っていない間もアクセスを続ける",
    scope_other: "「{scope}」を使う",
    signed_in_as: "サインイン中のユーザー",
    allow: "許可する",
    deny: "拒否する",
    consent_note: "この許可はアカウントページからいつでも取り消せます。",

    logout_title: "サインアウト",
    logout_question: "この端末でアカウントからサインアウトし、このアカウントでサインインしたすべてのアプリからもサインアウトしますか？",
    logout_button: "サインアウト",
    stay_signed_in: "サインインしたままにする",
    logged_out_title: "サインアウトしました",
    logged_out_text: "サインアウトしました。このウィンドウは閉じてかまいません。",

    error_title: "問題が発生しました",
    error_unknown_client: "このページに移動してきたアプリケーションは登録されていません。",
    error_bad_redirect_uri: "アプリケーションが登録されていないアドレスへの戻りを求めたため、戻りませんでした。",
    error_bad_return_target: "このサインインが対象とするサイトの外のアドレスへ移動しようとしたため、移動しませんでした。",
    no_access_title: "アクセスできません",
    no_access_text: "{user} としてサインインしていますが、このページは利用できません。",
    sign_in_as_someone_else: "別のユーザーでサインイン",
    conflicting_cookies: "このサイトについて、複数のセッションのサインイン用 Cookie がブラウザーにあります（ドメイン内の別のサイトが設定した可能性があります）。このサイトの Cookie を削除してから、もう一度サインインしてください。",
    error_bad_request: "サインインのリクエストが正しくありません。",
    error_expired: "このサインインのリクエストは有効期限切れです。アプリケーションに戻ってやり直してください。",
    error_server: "サーバーがリクエストを完了できませんでした。しばらくしてからもう一度お試しください。",
    error_unavailable: "サインインを一時的に利用できません。数秒後にもう一度お試しください。",
    error_too_many_requests: "お使いのネットワークからのリクエストが多すぎます。しばらく待ってからもう一度お試しください。",
    error_reference: "詳細",

    continue_button: "続ける",
    form_post_note: "ブラウザーの JavaScript が無効になっています。「続ける」を押してアプリケーションに戻ってください。",

    account_title: "アカウント",
    profile: "プロフィール",
    name: "名前",
    email: "メールアドレス",
    groups: "グループ",
    none: "なし",
    sessions: "サインインしている場所",
    this_session: "この端末",
    signed_in_at: "サインイン",
    expires_at: "終了",
    address: "アドレス",
    browser: "ブラウザー",
    sign_out_everywhere: "すべての場所からサインアウト",
    sign_out: "サインアウト",
    change_password: "パスワードの変更",
    current_password: "現在のパスワード",
    new_password: "新しいパスワード",
    confirm_password: "新しいパスワード（確認）",
    password_changed: "パスワードを変更しました。",
    password_wrong: "現在のパスワードが正しくありません。",
    password_mismatch: "新しいパスワードが一致しません。",
    password_too_short: "新しいパスワードは {n} 文字以上にしてください。",
    apps: "許可したアプリ",
    apps_none: "まだ許可したアプリはありません。",
    apps_first_party_note: "組織のアプリは確認を求めません。サインイン中またはアクセスを保持している間、ここに表示されます。",
    first_party_app: "組織のアプリ: 確認なしで許可されています。",
    session_apps: "サインイン先",
    revoke: "取り消す",
    consent_revoked: "アクセスを取り消しました。",
    device_title: "デバイスの接続",
    device_intro: "デバイスに表示されているコードを入力してください。",
    device_code_label: "コード",
    device_continue: "次へ",
    device_unknown: "コードが正しくないか、有効期限が切れています。デバイスのコードを確認してください。",
    device_throttled: "間違ったコードが多すぎます。{n} 分後にもう一度お試しください。",
    device_compare: "デバイスに次のコードが表示されていることを確認してください:",
    device_approved: "完了しました。デバイスに戻ってください。",
    device_denied: "拒否しました。デバイスにはアクセスが許可されていません。",
    signed_out_elsewhere: "ほかのセッションからサインアウトしました。",
    factor_title: "2段階認証",
    factor_lead: "認証アプリに表示されている6桁のコードを入力してください。",
    factor_code: "コード",
    factor_recovery_hint: "認証アプリを使えない場合は、リカバリーコードのいずれかを入力してください。",
    verify: "確認",
    code_wrong: "コードが正しくないか、すでに使われています。次のコードを待ってもう一度お試しください。",
    enrol_title: "認証アプリの設定",
    enrol_required: "ここへのサインインには2要素目が必要です。",
    enrol_lead: "認証アプリでQRコードを読み取る（またはキーを入力する）と表示されるコードを入力してください。",
    enrol_key: "キー",
    enrol_uri: "設定用リンク",
    recovery_title: "リカバリーコード",
    recovery_lead: "認証アプリを使えないとき、各コードで1回だけサインインできます。安全な場所に保管してください。表示されるのは今だけです。",
    continue_on: "続ける",
    mfa_enrolled: "認証アプリを設定しました。",
    mfa_removed: "認証アプリを削除しました。",
    mfa_already: "認証アプリはすでに設定されています。別のアプリを設定するには先に削除してください。",
    mfa_totp: "認証アプリ",
    mfa_added: "追加日時",
    mfa_last_used: "最終使用",
    mfa_codes_left: "未使用のコード: 残り {n} 個",
    mfa_none: "2要素目は設定されていません。",
    mfa_confirm_password: "パスワードで確認",
    mfa_regenerate: "リカバリーコードを再発行",
    mfa_remove: "アプリを削除",
    mfa_set_up: "認証アプリを設定",
    device_needs_mfa: "このアプリには2要素目でのサインインが必要です。アカウントページで設定してから、もう一度お試しください。",
    passkey_lead: "パスキーでサインインを完了してください。",
    passkey_failed: "パスキーを使えませんでした。もう一度試すか、別の方法でサインインしてください。",
    passkey_clone: "このパスキーは拒否されました。署名カウンターが戻っており、複製された可能性があります。別の方法でサインインし、管理者に連絡してください。",
    use_passkey: "パスキーを使う",
    passkey_needs_script: "パスキーにはこのブラウザーのJavaScriptが必要です。",
    passkey_needed: "このアプリはパスキーを求めています。コードでは足りません。",
    sign_in_with_passkey: "パスキーでサインイン",
    passkey_add: "パスキーを追加",
    passkey_name: "名前（保存されている端末など）",
    passkey_which: "パスキー",
    passkey_added: "パスキーを追加しました。",
    passkey_removed: "パスキーを削除しました。",
    passkey_remove: "パスキーを削除",
    passkey_synced: "同期",
    passkey_device_bound: "この端末のみ",
};

impl Texts {
    /// The description of a scope on the consent page.
    pub fn scope(&self, scope: &str) -> String {
        match scope {
            "openid" => self.scope_openid.to_owned(),
            "profile" => self.scope_profile.to_owned(),
            "email" => self.scope_email.to_owned(),
            "groups" => self.scope_groups.to_owned(),
            "offline_access" => self.scope_offline_access.to_owned(),
            other => self.scope_other.replace("{scope}", other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert_eq!(Lang::negotiate(Some("fr ja-JP en"), Some("en")), Lang::Ja);
        assert_eq!(
            Lang::negotiate(Some("fr"), Some("fr-CH, ja;q=0.8, en;q=0.5")),
            Lang::Ja
        );
        assert_eq!(
            Lang::negotiate(None, Some("en-US,en;q=0.9,ja;q=0.8")),
            Lang::En
        );
        assert_eq!(Lang::negotiate(None, Some("ja;q=0")), Lang::En);
        assert_eq!(Lang::negotiate(None, None), Lang::En);
    }
}
