//! What staff read: a Japanese text for every `ErrorReason`, sent as a `google.rpc.LocalizedMessage`
//! (locale ja-JP) beside the English message, so a kiosk or receipt computer can show it as it
//! is. The match is exhaustive: a new reason does not compile without its text.

use shikaku_domain::pb::ErrorReason;

/// The locale of `ja`.
pub const LOCALE: &str = "ja-JP";

/// The staff-facing text of `reason`: what happened and what to do.
pub fn ja(reason: ErrorReason) -> &'static str {
    use ErrorReason as R;
    match reason {
        R::Unspecified => {
            "処理できませんでした。しばらくしてからやり直し、続く場合は IT 担当者に連絡してください。"
        }
        R::InvalidField => {
            "入力内容に誤りがあります。表示された項目を確認して入力し直してください。"
        }
        R::CheckDigitMismatch => {
            "保険者番号（または医療機関コード）の検証番号が合いません。番号を読み直して入力してください。"
        }
        R::ReaderNotFound => "カードリーダーが見つかりません。リーダーの接続を確認してください。",
        R::NoCard => {
            "カード（またはスマートフォン）がリーダーに置かれていません。置いてからやり直してください。"
        }
        R::NotAMyNumberCard => {
            "マイナンバーカードとして読み取れません。カードの向きと種類を確認してください。"
        }
        R::PinIncorrect => "暗証番号が違います。残りの回数を確認し、もう一度入力してください。",
        R::CardLocked => {
            "暗証番号がロックされています。顔認証か目視確認で確認し、市区町村窓口での再設定をご案内ください。"
        }
        R::ReaderBusy => "カードリーダーは別の確認中です。終わってからやり直してください。",
        R::CardRemoved => {
            "確認中にカードが外されました。カードを置いたまま、もう一度やり直してください。"
        }
        R::CertificateExpired => {
            "電子証明書の有効期限が切れています。資格確認書などの番号で確認し、市区町村での更新をご案内ください。"
        }
        R::FaceAuthUnsupported => {
            "このリーダーは顔認証に対応していません。暗証番号か目視確認をお使いください。"
        }
        R::FaceNotMatched => {
            "顔認証で本人と確認できませんでした。もう一度か、暗証番号・目視確認でお願いします。"
        }
        R::PinRequired => {
            "スマートフォン（Android）では暗証番号の入力が必要です。暗証番号で確認し直してください。"
        }
        R::PhoneLocked => {
            "スマートフォンのロックが解除されていません。ロックを解除してからリーダーにかざし、もう一度お試しください。"
        }
        R::VisualCheckPasswordIncorrect => {
            "目視確認用パスワードが違います。5 回間違えるとアカウントがロックされます。"
        }
        R::VisualCheckPasswordNotIssued => {
            "このアカウントには目視確認用パスワードが発行されていません。管理者に発行を依頼してください。"
        }
        R::AccountLocked => {
            "アカウントがロックされています。表示された時刻まで待つか、別の職員のアカウントをお使いください。"
        }
        R::AccountNotFound => {
            "そのユーザー ID のアカウントはありません。ユーザー ID を確認してください。"
        }
        R::ActivationCodeNotYetUsable => {
            "アクティベーションコードはまだ使えません。発行から約 10 分後に入力してください。"
        }
        R::ActivationCodeAlreadyUsed => {
            "このアクティベーションコードは既に使われています。新しいコードを発行してください。"
        }
        R::ActivationCodeRevoked => {
            "このアクティベーションコードは取り消されています。新しいコードを発行してください。"
        }
        R::ActivationCodeNotFound => {
            "そのアクティベーションコードはありません。12 桁を読み直してください。"
        }
        R::DeviceLimitReached => {
            "申請中の端末が上限に達しています。使っていないコードを取り消してください。"
        }
        R::UpstreamUnavailable => {
            "オンライン資格確認が応答しません。しばらくしてからやり直してください。続く場合は資格確認端末を確認してください。"
        }
        R::PluginFailed => {
            "カードリーダーまたは接続の部品が異常です。IT 担当者に連絡してください。"
        }
        R::UpstreamError => {
            "オンライン資格確認がエラーを返しました。表示されたコードを控え、資格確認端末の案内に従ってください。"
        }
        R::ReceptionNotFound => "その受付は見つかりません。日付と受付番号を確認してください。",
        R::ReceptionAlreadyDecided => {
            "その受付は既に処理されています。受付一覧を読み込み直してください。"
        }
        R::PatientLinkNotFound => "その患者番号の紐付けはありません。初診として紐付けてください。",
        R::PatientLinkConflict => {
            "この保険は別の患者番号に紐付いています。二重登録でないか確認してください。"
        }
        R::BulkCheckNotFound => "その一括照会は見つかりません。一覧で ID を確認してください。",
        R::RoleNotAllowed => {
            "この端末にはその操作の権限がありません。権限のある端末で行うか、管理者に相談してください。"
        }
        R::ReaderNotAllowed => {
            "この端末はそのカードリーダーを使えません。この端末のリーダーをお使いください。"
        }
        R::PinLastTry => {
            "暗証番号はあと 1 回でロックされます。患者さんにお伝えし、了承を得てから入力してください（顔認証・目視確認もお使いいただけます）。"
        }
        R::RateLimited => "短い時間に操作が多すぎます。少し待ってからやり直してください。",
        R::TooManyStreams => {
            "この端末が開いている受付・リーダーの監視が多すぎます。不要な画面を閉じてください。"
        }
        R::ClientCertificateRevoked => {
            "この端末の証明書は取り消されています。管理者に新しい証明書の発行を依頼してください。"
        }
    }
}
