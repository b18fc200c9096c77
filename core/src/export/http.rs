//! The blocking HTTP client shared by the network exporters (ureq + rustls).
