//! Alipay (RSA2): the channel adapter and a local gateway (being written).
