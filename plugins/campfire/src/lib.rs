//! `campfire`: `notify_campfire message: '...'` posts into a Campfire room.
//!
//! Two APIs: the classic one (`POST {url}/room/{room}/speak.json`, HTTP
//! Basic with the API token as user name and `X` as password) and the
//! self-hosted Campfire's bot API (`POST {url}/rooms/{room}/{bot key}/messages`
//! with the message as the body), chosen with `api: 'bot'` or the
//! CAMPFIRE_API setting. The token and the bot key are secrets the host
//! fills in; this component never sees them.

use mastermind_sdk::http::Request;
use mastermind_sdk::prelude::*;

struct Campfire;

impl Participant for Campfire {
    fn describe() -> Description {
        Description::new("campfire", "Posts messages into a Campfire room").action(
            Action::new("notify", "Posts `message` into the room")
                .required("message", Kind::String, "the text to post")
                .optional("room", Kind::Any, "room id (default: the CAMPFIRE_ROOM setting)")
                .optional(
                    "account",
                    Kind::String,
                    "account name, for https://ACCOUNT.campfirenow.com (CAMPFIRE_ACCOUNT)",
                )
                .optional("url", Kind::String, "server URL instead of the account's (CAMPFIRE_URL)")
                .optional("api", Kind::String, "classic (default) or bot (CAMPFIRE_API)")
                .optional("token", Kind::String, "secret holding the API token or bot key (default campfire_token)"),
        )
    }

    fn invoke(call: Call) -> Result<Fields> {
        let message: String = call.param("message")?;
        let room = call
            .param_or_setting("room", "CAMPFIRE_ROOM")
            .ok_or_else(|| Error::bad_input("notify: no room (give room: or set CAMPFIRE_ROOM)"))?;
        let base = match call.param_or_setting("url", "CAMPFIRE_URL") {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => match call.param_or_setting("account", "CAMPFIRE_ACCOUNT") {
                Some(account) => format!("https://{account}.campfirenow.com"),
                None => {
                    return Err(Error::bad_input(
                        "notify: no server (give url: or account:, or set CAMPFIRE_URL or CAMPFIRE_ACCOUNT)",
                    ));
                }
            },
        };
        if room.is_empty() || !room.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(Error::bad_input(format!("notify: room '{room}' must be an id (letters, digits, - and _)")));
        }
        let secret = call.optional::<String>("token")?.unwrap_or_else(|| "campfire_token".into());
        let api = call.param_or_setting("api", "CAMPFIRE_API").unwrap_or_else(|| "classic".into());
        let response = match api.as_str() {
            "classic" => Request::post(&format!("{base}/room/{room}/speak.json"))
                .basic_auth_secret_user(&secret, "X")
                .json(&json!({ "message": { "type": "TextMessage", "body": message } }))
                .send()?,
            "bot" => Request::post(&format!("{base}/rooms/{room}/{{secret:{secret}}}/messages"))
                .url_secret(&secret)
                .header("Content-Type", "text/plain; charset=utf-8")
                .body(message.clone().into_bytes())
                .send()?,
            other => return Err(Error::bad_input(format!("notify: api '{other}' is not classic or bot"))),
        };
        let response = response.error_for_status("campfire")?;
        log::info(&format!("posted to room {room}: {message}"));
        Ok(fields! { "campfire_status" => response.status })
    }
}

mastermind_sdk::export!(Campfire);
