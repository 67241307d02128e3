//! The SDK plugins over [`PcscReaders`]: the card-reader kind (`pcsc`, exported by the
//! `shikaku-pcsc` library) and the smartphone-certificate kind (`pcsc-smartphone`, exported by
//! `shikaku-pcsc-smartphone`; one library carries one entry symbol).

use shikaku_domain::reader::{ReaderError, ReaderEvent, ReaderInfo};
use shikaku_plugin_sdk::{Deadline, Host, Level, PluginError, ReaderPlugin};

use crate::{Media, PcscConfig, PcscReaders, PcscSession};

/// PC/SC readers as a plugin. `SMARTPHONE` fixes the media to スマホ用電子証明書; otherwise
/// `media` comes from the configuration (default: card, Android and iPhone alike).
pub struct PcscPlugin<const SMARTPHONE: bool> {
    readers: PcscReaders,
}

/// The card-reader kind (汎用カードリーダー): by default it reads cards and phones alike.
pub type CardPlugin = PcscPlugin<false>;
/// The smartphone-certificate kind: reads Android and iPhone only.
pub type SmartphonePlugin = PcscPlugin<true>;

/// Reads `[plugins.config]`; the smartphone kind refuses a `media` other than smartphone.
pub fn parse_config(
    config: &serde_json::Value,
    smartphone: bool,
) -> Result<PcscConfig, PluginError> {
    let mut parsed: PcscConfig = match config {
        serde_json::Value::Null => PcscConfig::default(),
        other => serde_json::from_value(other.clone()).map_err(PluginError::config)?,
    };
    if smartphone {
        let set = config.get("media").is_some();
        if set && parsed.media != Media::Smartphone {
            return Err(PluginError::config(
                "media: the pcsc-smartphone plugin reads smartphones only; \
                 leave media out or set it to \"smartphone\"",
            ));
        }
        parsed.media = Media::Smartphone;
    }
    Ok(parsed)
}

impl<const SMARTPHONE: bool> ReaderPlugin for PcscPlugin<SMARTPHONE> {
    type Session = PcscSession;

    fn create(host: Host, config: &serde_json::Value) -> Result<Self, PluginError> {
        let config = parse_config(config, SMARTPHONE)?;
        host.log(
            Level::INFO,
            &format!(
                "pc/sc readers: media {:?}, extended length {:?}, readers {}",
                config.media,
                config.extended_length,
                if config.readers.is_empty() {
                    "all".to_owned()
                } else {
                    config.readers.join(", ")
                }
            ),
        );
        Ok(Self {
            readers: PcscReaders::new(config),
        })
    }

    fn list_readers(&self, deadline: Deadline) -> Result<Vec<ReaderInfo>, ReaderError> {
        self.readers.list_readers(deadline.instant())
    }

    fn next_event(&self, deadline: Deadline) -> Result<Option<ReaderEvent>, ReaderError> {
        self.readers.next_event(deadline.instant())
    }

    fn open(&self, reader: &str, deadline: Deadline) -> Result<PcscSession, ReaderError> {
        self.readers.open(reader, deadline.instant())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ExtendedLength;

    #[test]
    fn config_defaults_to_every_medium_and_auto_extended_length() {
        let c = parse_config(&serde_json::json!({}), false).unwrap();
        assert_eq!(c.media, Media::All);
        assert_eq!(c.extended_length, ExtendedLength::Auto);
        assert!(c.readers.is_empty());
        let c = parse_config(&serde_json::Value::Null, false).unwrap();
        assert_eq!(c.media, Media::All);
    }

    #[test]
    fn config_takes_every_key() {
        let c = parse_config(
            &serde_json::json!({"media": "card", "extended_length": "never", "readers": ["ACS"]}),
            false,
        )
        .unwrap();
        assert_eq!(c.media, Media::Card);
        assert_eq!(c.extended_length, ExtendedLength::Never);
        assert_eq!(c.readers, ["ACS"]);
    }

    #[test]
    fn config_rejects_unknown_keys_and_values() {
        let e = parse_config(&serde_json::json!({"medium": "card"}), false).unwrap_err();
        assert!(e.message.contains("unknown field `medium`"), "{e}");
        let e = parse_config(&serde_json::json!({"media": "tablet"}), false).unwrap_err();
        assert!(e.message.contains("tablet"), "{e}");
    }

    #[test]
    fn the_smartphone_kind_reads_smartphones_only() {
        let c = parse_config(&serde_json::json!({}), true).unwrap();
        assert_eq!(c.media, Media::Smartphone);
        let c = parse_config(&serde_json::json!({"media": "smartphone"}), true).unwrap();
        assert_eq!(c.media, Media::Smartphone);
        let e = parse_config(&serde_json::json!({"media": "all"}), true).unwrap_err();
        assert!(e.message.contains("smartphones only"), "{e}");
    }
}
