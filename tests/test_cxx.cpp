// test_cxx.cpp — the public header compiles as C++ (the benchmarks are C++)
// and its functions link from C++.
#include "mfrec.h"

#include <cstdio>
#include <cstring>

int main()
{
    mfr_config cfg;
    mfr_config_default(&cfg);
    mfr_error err{};
    if (mfr_config_validate(&cfg, &err) != MFR_OK) return 1;
    if (std::strcmp(mfr_status_str(MFR_ERR_IO), "I/O error") != 0) return 1;
    std::printf("mfrec.h compiles as C++: ok\n");
    return 0;
}
