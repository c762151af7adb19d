/* unit.h: shared bits of the CUnit test programs: a main() that runs the
 * suite and exits non-zero on any failure, and a few assertion helpers. */
#ifndef MA_TESTS_UNIT_H
#define MA_TESTS_UNIT_H

#include <CUnit/Basic.h>
#include <string.h>

#define ASSERT_STR(a, b)                                                                           \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        CU_ASSERT_PTR_NOT_NULL_FATAL(a_);                                                          \
        if (strcmp(a_, b_) != 0)                                                                   \
            fprintf(stderr, "\n  %s:%d: got '%s', expected '%s'\n", __FILE__, __LINE__, a_, b_);   \
        CU_ASSERT_STRING_EQUAL(a_, b_);                                                            \
    } while (0)

typedef struct {
    const char *name;
    void (*fn)(void);
} unit_test_t;

/* Runs one suite of tests; returns the process exit status. */
static inline int unit_run(const char *suite, const unit_test_t *tests, size_t n)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        CU_add_test(s, tests[i].name, tests[i].fn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failed = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}

#define UNIT_MAIN(suite, tests)                                                                    \
    int main(void)                                                                                 \
    {                                                                                              \
        return unit_run(suite, tests, sizeof(tests) / sizeof(tests[0]));                           \
    }

#endif
