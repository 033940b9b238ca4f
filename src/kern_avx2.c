/* placeholder until implemented */ typedef int mfr_placeholder_kern_avx2;
