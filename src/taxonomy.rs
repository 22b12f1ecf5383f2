//! The domain taxonomy: services, exchanges, threats, controls, actors, incidents.
