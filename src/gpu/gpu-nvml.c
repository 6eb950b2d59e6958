/*
 * The NVML backend: libnvidia-ml.so.1 loaded with dlopen (no link-time
 * dependency; GPUMGR_NVML_LIB names another library, which the tests use
 * for their scripted stand-in), the versioned entry points resolved by
 * name. One GPU that cannot be read does not hide the others: it is listed
 * with its failure as health, and a field the GPU does not support is
 * reported unknown.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu.h"

/* Our own declarations of the few NVML types we use (see
 * ../shared/reference/nvml.md). */
typedef int nvml_ret;
typedef void *nvml_dev;
struct nvml_memory {
	unsigned long long	total, free, used;
};
struct nvml_util {
	unsigned int		gpu, memory;
};
struct nvml_pci {
	char			bus_id_legacy[16];
	unsigned int		domain, bus, device, pci_device_id;
	unsigned int		pci_subsystem_id;
	char			bus_id[32];
};

#define NVML_SUCCESS			0
#define NVML_ERROR_INVALID_ARGUMENT	2
#define NVML_ERROR_NOT_SUPPORTED	3
#define NVML_ERROR_NO_PERMISSION	4
#define NVML_ERROR_NOT_FOUND		6
#define NVML_ERROR_FUNCTION_NOT_FOUND	13
#define NVML_ERROR_GPU_IS_LOST		15
#define NVML_ERROR_NO_DATA		21
#define NVML_ERROR_DEPRECATED		26
#define NVML_ERROR_GPU_NOT_FOUND	28
#define NVML_TEMPERATURE_GPU		0
#define NVML_MEMORY_ERROR_UNCORRECTED	1
#define NVML_VOLATILE_ECC		0
#define NVML_BUF			96

struct nvml {
	void		*dl;
	nvml_ret	(*init)(void);
	nvml_ret	(*shutdown)(void);
	const char	*(*error_string)(nvml_ret);
	nvml_ret	(*count)(unsigned int *);
	nvml_ret	(*handle)(unsigned int, nvml_dev *);
	nvml_ret	(*uuid)(nvml_dev, char *, unsigned int);
	nvml_ret	(*name)(nvml_dev, char *, unsigned int);
	nvml_ret	(*memory)(nvml_dev, struct nvml_memory *);
	nvml_ret	(*pci)(nvml_dev, struct nvml_pci *);
	nvml_ret	(*cc)(nvml_dev, int *, int *);
	nvml_ret	(*util)(nvml_dev, struct nvml_util *);
	nvml_ret	(*temp)(nvml_dev, int, unsigned int *);
	nvml_ret	(*mig)(nvml_dev, unsigned int *, unsigned int *);
	nvml_ret	(*ecc)(nvml_dev, int, int, unsigned long long *);
};

static const char *
nvml_strerror(const struct nvml *n, nvml_ret rc)
{
	static char buf[32];
	const char *s = n->error_string != NULL ? n->error_string(rc) : NULL;

	if (s != NULL)
		return s;
	snprintf(buf, sizeof buf, "NVML error %d", rc);
	return buf;
}

/* A call's result on one device: 0 read, 1 field unknown (the GPU stays
 * usable), -1 the GPU failed (its health is set). */
static int
nvml_check(const struct nvml *n, nvml_ret rc, struct gpu_info *g)
{
	switch (rc) {
	case NVML_SUCCESS:
		return 0;
	case NVML_ERROR_NOT_SUPPORTED:
	case NVML_ERROR_NO_PERMISSION:
	case NVML_ERROR_FUNCTION_NOT_FOUND:
	case NVML_ERROR_NO_DATA:
	case NVML_ERROR_DEPRECATED:
	case NVML_ERROR_INVALID_ARGUMENT:
		return 1;
	case NVML_ERROR_GPU_IS_LOST:
	case NVML_ERROR_NOT_FOUND:
	case NVML_ERROR_GPU_NOT_FOUND:
		if (!gpu_health_failed(g->health))
			str_copy(g->health, "lost", sizeof g->health);
		return -1;
	default:
		if (!gpu_health_failed(g->health))
			snprintf(g->health, sizeof g->health, "error: %.80s",
			    nvml_strerror(n, rc));
		return -1;
	}
}

static void
nvml_read(const struct nvml *n, nvml_dev d, struct gpu_info *g)
{
	char buf[NVML_BUF];
	struct nvml_memory mem;
	struct nvml_pci pci;
	struct nvml_util util;
	unsigned int t, cur, pend;
	unsigned long long ecc;
	int major, minor;

	memset(buf, 0, sizeof buf);
	if (nvml_check(n, n->uuid(d, buf, sizeof buf), g) == 0) {
		buf[sizeof buf - 1] = '\0';
		str_copy(g->uuid, buf, sizeof g->uuid);
	}
	memset(buf, 0, sizeof buf);
	if (nvml_check(n, n->name(d, buf, sizeof buf), g) == 0) {
		buf[sizeof buf - 1] = '\0';
		str_copy(g->name, buf, sizeof g->name);
	}
	memset(&pci, 0, sizeof pci);
	if (n->pci != NULL && nvml_check(n, n->pci(d, &pci), g) == 0) {
		pci.bus_id[sizeof pci.bus_id - 1] = '\0';
		if (gpu_smitext_busid(pci.bus_id, strlen(pci.bus_id),
		    g->pci_bus_id, sizeof g->pci_bus_id) != 0)
			g->pci_bus_id[0] = '\0';
	}
	if (nvml_check(n, n->memory(d, &mem), g) == 0) {
		g->vram_total_mb = (long)(mem.total / (1024 * 1024));
		g->vram_used_mb = (long)(mem.used / (1024 * 1024));
		g->vram_free_mb = (long)(mem.free / (1024 * 1024));
	}
	if (n->cc != NULL && nvml_check(n, n->cc(d, &major, &minor), g) == 0 &&
	    major >= 0 && minor >= 0 && major < 1000 && minor < 1000)
		snprintf(g->compute_capability, sizeof g->compute_capability,
		    "%d.%d", major, minor);
	if (n->util != NULL && nvml_check(n, n->util(d, &util), g) == 0 &&
	    util.gpu <= 100)
		g->util_pct = (int)util.gpu;
	if (n->temp != NULL && nvml_check(n, n->temp(d, NVML_TEMPERATURE_GPU,
	    &t), g) == 0 && t < 1000)
		g->temp_c = (int)t;
	if (n->mig != NULL && nvml_check(n, n->mig(d, &cur, &pend), g) == 0)
		g->mig = cur == 1;
	/* uncorrectable ECC errors since boot: the GPU's memory is bad */
	if (n->ecc != NULL && nvml_check(n, n->ecc(d,
	    NVML_MEMORY_ERROR_UNCORRECTED, NVML_VOLATILE_ECC, &ecc), g) == 0 &&
	    ecc > 0 && !gpu_health_failed(g->health))
		str_copy(g->health, "ecc", sizeof g->health);
}

static int
nvml_scan(void *state, struct gpu_list *l, struct err *e)
{
	struct nvml *n = state;
	unsigned int count, i;
	struct gpu_info *g;
	nvml_dev d;
	nvml_ret rc;

	if ((rc = n->count(&count)) != NVML_SUCCESS)
		return err_set(e, "nvmlDeviceGetCount_v2: %s",
		    nvml_strerror(n, rc));
	if (count > 1024)
		return err_set(e, "nvmlDeviceGetCount_v2: %u GPUs?", count);
	for (i = 0; i < count; i++) {
		g = gpu_list_add(l, (int)i);
		d = NULL;
		rc = n->handle(i, &d);
		if (rc != NVML_SUCCESS) {
			/* listed, with why it cannot be used */
			if (nvml_check(n, rc, g) > 0)
				snprintf(g->health, sizeof g->health,
				    "error: %.80s", nvml_strerror(n, rc));
			continue;
		}
		nvml_read(n, d, g);
	}
	return 0;
}

static void
nvml_close(void *state)
{
	struct nvml *n = state;

	if (n == NULL)
		return;
	if (n->shutdown != NULL)
		n->shutdown();
	dlclose(n->dl);
	free(n);
}

static int
nvml_open(void **state, const char *arg, struct err *e)
{
	const char *lib = getenv("GPUMGR_NVML_LIB");
	struct nvml *n;
	nvml_ret rc;
	void *dl;

	if (lib == NULL || *lib == '\0')
		lib = "libnvidia-ml.so.1";
	if ((dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return err_set(e, "cannot load %s: %s", lib, dlerror());
	n = xcalloc(1, sizeof *n);
	n->dl = dl;
#define NVML_SYM(field, sym) \
	(*(void **)&n->field = dlsym(dl, sym))
	NVML_SYM(init, "nvmlInit_v2");
	NVML_SYM(shutdown, "nvmlShutdown");
	NVML_SYM(error_string, "nvmlErrorString");
	NVML_SYM(count, "nvmlDeviceGetCount_v2");
	NVML_SYM(handle, "nvmlDeviceGetHandleByIndex_v2");
	NVML_SYM(uuid, "nvmlDeviceGetUUID");
	NVML_SYM(name, "nvmlDeviceGetName");
	NVML_SYM(memory, "nvmlDeviceGetMemoryInfo");
	/* optional: an old library lacks some; the field is then unknown */
	NVML_SYM(pci, "nvmlDeviceGetPciInfo_v3");
	NVML_SYM(cc, "nvmlDeviceGetCudaComputeCapability");
	NVML_SYM(util, "nvmlDeviceGetUtilizationRates");
	NVML_SYM(temp, "nvmlDeviceGetTemperature");
	NVML_SYM(mig, "nvmlDeviceGetMigMode");
	NVML_SYM(ecc, "nvmlDeviceGetTotalEccErrors");
#undef NVML_SYM
	if (n->init == NULL || n->shutdown == NULL || n->count == NULL ||
	    n->handle == NULL || n->uuid == NULL || n->name == NULL ||
	    n->memory == NULL) {
		dlclose(dl);
		free(n);
		return err_set(e, "%s lacks the NVML functions gpumgr needs "
		    "(nvmlInit_v2, nvmlDeviceGetCount_v2, ...)", lib);
	}
	if ((rc = n->init()) != NVML_SUCCESS) {
		err_set(e, "nvmlInit_v2 failed: %s (%d)", nvml_strerror(n, rc),
		    rc);
		dlclose(dl);
		free(n);
		return -1;
	}
	*state = n;
	return 0;
}

const struct gpu_backend gpu_backend_nvml = {
	.name = "nvml",
	.open = nvml_open,
	.scan = nvml_scan,
	.close = nvml_close,
};
