//! Sans-IO BGP session state machine (RFC 4271 §8).
