//! WeChat Pay API v3: the channel adapter and a local peer (being written).
