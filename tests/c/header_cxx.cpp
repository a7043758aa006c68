// The header must be usable from C++ too (extern "C", no C-only constructs).
#include <mmkit.h>
int main() {
    mm_region *r = nullptr;
    int rc = mm_map_anon(16, MM_READ | MM_WRITE | MM_PRIVATE, &r);
    return rc == 0 && mm_unmap(r) == 0 ? 0 : 1;
}
