/* placeholder until implemented */ typedef int mfr_placeholder_metrics;
