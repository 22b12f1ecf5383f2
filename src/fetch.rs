//! HTTP fetching with limits, retries and conditional GET.
