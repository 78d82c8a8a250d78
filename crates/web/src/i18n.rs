//! English and Spanish (R-PT-6): chosen by `?lang=` (remembered in a
//! cookie), else the cookie, else `Accept-Language`, else English.

use axum::http::HeaderMap;

/// The language cookie (not a secret: only the language).
pub const LANG_COOKIE: &str = "__Host-sealpost_lang";

/// Every text a page shows, in one language.
pub struct Texts {
    pub lang: &'static str,
    pub portal_name: &'static str,
    pub skip_to_content: &'static str,
    pub language: &'static str,
    pub sign_out: &'static str,
    pub session_ends: &'static str,
    pub extend: &'static str,
    pub signin_title: &'static str,
    pub signin_from: &'static str,
    pub available_until: &'static str,
    pub signin_explain: &'static str,
    pub send_code: &'static str,
    pub send_new_code: &'static str,
    pub verify_title: &'static str,
    pub verify_explain: &'static str,
    pub code_label: &'static str,
    pub support: &'static str,
    pub code_hint: &'static str,
    pub verify_button: &'static str,
    pub inbox_title: &'static str,
    pub inbox_empty: &'static str,
    pub no_subject: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub cc: &'static str,
    pub date: &'static str,
    pub new: &'static str,
    pub message_title: &'static str,
    pub back_to_inbox: &'static str,
    pub back_to_message: &'static str,
    pub attachments: &'static str,
    pub reply: &'static str,
    pub reply_all: &'static str,
    pub reply_title: &'static str,
    pub your_reply: &'static str,
    pub attach_files: &'static str,
    pub attach_hint: &'static str,
    pub send: &'static str,
    pub reply_sent: &'static str,
    pub ask_resend: &'static str,
    pub resend_asked: &'static str,
    pub expired_title: &'static str,
    pub expired_text: &'static str,
    pub retracted_text: &'static str,
    pub unknown_title: &'static str,
    pub unknown_text: &'static str,
    pub locked_title: &'static str,
    pub locked_text: &'static str,
    pub too_many_codes: &'static str,
    pub wrong_code: &'static str,
    pub code_expired: &'static str,
    pub signed_out_title: &'static str,
    pub signed_out_text: &'static str,
    pub not_found_title: &'static str,
    pub not_found_text: &'static str,
    pub error_title: &'static str,
    pub error_text: &'static str,
    pub forbidden_title: &'static str,
    pub forbidden_text: &'static str,
}

pub static EN: Texts = Texts {
    lang: "en",
    portal_name: "Secure messages",
    skip_to_content: "Skip to content",
    language: "Language",
    sign_out: "Sign out",
    session_ends: "For your privacy, this session ends at",
    extend: "Stay signed in",
    signin_title: "You have a secure message",
    signin_from: "A secure message is waiting for you from",
    available_until: "Available until",
    signin_explain: "To read it, confirm that this is your email address: we will email you a one-time code.",
    send_code: "Email me a code",
    send_new_code: "Send a new code",
    verify_title: "Enter your code",
    verify_explain: "We emailed you a 6-digit code. It works once and expires in 10 minutes.",
    code_label: "One-time code",
    support: "Questions? Contact",
    code_hint: "6 digits, from the email we just sent.",
    verify_button: "Continue",
    inbox_title: "Your secure messages",
    inbox_empty: "There are no messages for you right now.",
    no_subject: "(no subject)",
    from: "From",
    to: "To",
    cc: "Cc",
    date: "Date",
    new: "new",
    message_title: "Message",
    back_to_inbox: "Back to your messages",
    back_to_message: "Back to the message",
    attachments: "Attachments",
    reply: "Reply",
    reply_all: "Reply all",
    reply_title: "Reply",
    your_reply: "Your reply",
    attach_files: "Attach files (optional)",
    attach_hint: "Altogether at most",
    send: "Send securely",
    reply_sent: "Your reply was sent securely.",
    ask_resend: "Ask the sender to send it again",
    resend_asked: "We asked the sender to send the message again.",
    expired_title: "This message is no longer available",
    expired_text: "The message has expired.",
    retracted_text: "The sender withdrew this message.",
    unknown_title: "This link does not work",
    unknown_text: "The link is not valid, or the message it pointed to no longer exists.",
    locked_title: "Sign-in is locked for now",
    locked_text: "There were too many wrong codes. Try again later, or ask the sender to unlock your access. Locked until",
    too_many_codes: "Too many codes were sent. You can ask for another one at",
    wrong_code: "That code is not right. Check the email and try again. Tries left on this code:",
    code_expired: "That code has expired or was already used. Ask for a new code.",
    signed_out_title: "You are signed out",
    signed_out_text: "Open the link in your email again to read your messages.",
    not_found_title: "Not found",
    not_found_text: "There is nothing here, or it is not yours to see.",
    error_title: "Something went wrong",
    error_text: "The portal could not do that just now. Please try again in a moment.",
    forbidden_title: "This request was refused",
    forbidden_text: "The form was out of date or did not come from this site. Go back, reload the page and try again.",
};

pub static ES: Texts = Texts {
    lang: "es",
    portal_name: "Mensajes seguros",
    skip_to_content: "Ir al contenido",
    language: "Idioma",
    sign_out: "Cerrar sesión",
    session_ends: "Por su privacidad, esta sesión termina a las",
    extend: "Seguir conectado",
    signin_title: "Tiene un mensaje seguro",
    signin_from: "Le espera un mensaje seguro de",
    available_until: "Disponible hasta",
    signin_explain: "Para leerlo, confirme que esta es su dirección de correo: le enviaremos un código de un solo uso.",
    send_code: "Enviarme un código",
    send_new_code: "Enviar un código nuevo",
    verify_title: "Introduzca su código",
    verify_explain: "Le enviamos un código de 6 dígitos. Sirve una sola vez y caduca en 10 minutos.",
    code_label: "Código de un solo uso",
    support: "¿Preguntas? Contacto",
    code_hint: "6 dígitos, del correo que le acabamos de enviar.",
    verify_button: "Continuar",
    inbox_title: "Sus mensajes seguros",
    inbox_empty: "Ahora no tiene mensajes.",
    no_subject: "(sin asunto)",
    from: "De",
    to: "Para",
    cc: "Cc",
    date: "Fecha",
    new: "nuevo",
    message_title: "Mensaje",
    back_to_inbox: "Volver a sus mensajes",
    back_to_message: "Volver al mensaje",
    attachments: "Archivos adjuntos",
    reply: "Responder",
    reply_all: "Responder a todos",
    reply_title: "Responder",
    your_reply: "Su respuesta",
    attach_files: "Adjuntar archivos (opcional)",
    attach_hint: "En total, como máximo",
    send: "Enviar de forma segura",
    reply_sent: "Su respuesta se envió de forma segura.",
    ask_resend: "Pedir al remitente que lo envíe de nuevo",
    resend_asked: "Pedimos al remitente que envíe el mensaje de nuevo.",
    expired_title: "Este mensaje ya no está disponible",
    expired_text: "El mensaje ha caducado.",
    retracted_text: "El remitente retiró este mensaje.",
    unknown_title: "Este enlace no funciona",
    unknown_text: "El enlace no es válido o el mensaje al que apuntaba ya no existe.",
    locked_title: "El acceso está bloqueado por ahora",
    locked_text: "Hubo demasiados códigos incorrectos. Inténtelo más tarde o pida al remitente que desbloquee su acceso. Bloqueado hasta",
    too_many_codes: "Se enviaron demasiados códigos. Podrá pedir otro a las",
    wrong_code: "Ese código no es correcto. Revise el correo e inténtelo de nuevo. Intentos restantes con este código:",
    code_expired: "Ese código caducó o ya se usó. Pida un código nuevo.",
    signed_out_title: "Ha cerrado la sesión",
    signed_out_text: "Abra de nuevo el enlace de su correo para leer sus mensajes.",
    not_found_title: "No encontrado",
    not_found_text: "Aquí no hay nada, o no le corresponde verlo.",
    error_title: "Algo salió mal",
    error_text: "El portal no pudo hacerlo ahora. Inténtelo de nuevo en un momento.",
    forbidden_title: "Se rechazó esta solicitud",
    forbidden_text: "El formulario estaba desactualizado o no venía de este sitio. Vuelva atrás, recargue la página e inténtelo de nuevo.",
};

/// The language of a request, and whether `?lang=` asked to remember it.
pub fn choose(query_lang: Option<&str>, headers: &HeaderMap) -> (&'static Texts, bool) {
    if let Some(l) = query_lang {
        return (if l == "es" { &ES } else { &EN }, true);
    }
    let cookie = crate::cookie(headers, LANG_COOKIE);
    match cookie.as_deref() {
        Some("es") => return (&ES, false),
        Some("en") => return (&EN, false),
        _ => {}
    }
    let accept = headers.get(axum::http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    (if prefers_spanish(accept) { &ES } else { &EN }, false)
}

/// Whether Spanish comes before English in an Accept-Language list.
fn prefers_spanish(accept: &str) -> bool {
    let mut best: Option<(f32, bool)> = None;
    for part in accept.split(',') {
        let mut it = part.trim().split(';');
        let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
        let es = tag == "es" || tag.starts_with("es-");
        let en = tag == "en" || tag.starts_with("en-");
        if (es || en) && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, es));
        }
    }
    best.is_some_and(|(_, es)| es)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_of_the_two() {
        assert!(prefers_spanish("es-MX,es;q=0.9,en;q=0.8"));
        assert!(!prefers_spanish("en-US,en;q=0.9,es;q=0.8"));
        assert!(prefers_spanish("fr, es;q=0.5"));
        assert!(!prefers_spanish("fr"));
        assert!(!prefers_spanish(""));
    }
}
