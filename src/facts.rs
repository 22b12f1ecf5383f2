//! Extracting incident facts: counts, amounts, dates and causes.
