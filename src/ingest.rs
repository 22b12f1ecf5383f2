//! Driving the pipeline for a set of feeds, from config to store.
