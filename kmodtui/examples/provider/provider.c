// SPDX-License-Identifier: GPL-2.0
/* kmodtui example: a module that exports symbols the three ways kbuild knows. */
#include <linux/module.h>
#include <linux/kernel.h>
/* Linux 6.13 made symbol namespaces string literals (EXPORT_SYMBOL_NS(sym, "NS"),
 * MODULE_IMPORT_NS("NS")); older kernels take a bare name and stringify it. */
#include <linux/version.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
#define KMODTUI_NS "KMODTUI_NS"
#endif

int provider_fn(int x)
{
	return x + 1;
}
EXPORT_SYMBOL(provider_fn);

int provider_gpl_fn(int x)
{
	return x * 2;
}
EXPORT_SYMBOL_GPL(provider_gpl_fn);

int provider_ns_fn(int x)
{
	return x - 1;
}
EXPORT_SYMBOL_NS_GPL(provider_ns_fn, KMODTUI_NS);

static int __init provider_init(void)
{
	pr_info("kmodtui provider loaded\n");
	return 0;
}

static void __exit provider_exit(void)
{
	pr_info("kmodtui provider unloaded\n");
}

module_init(provider_init);
module_exit(provider_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("kmodtui");
MODULE_DESCRIPTION("kmodtui example provider: exports plain, GPL-only and namespaced symbols");
MODULE_VERSION("1.0");
