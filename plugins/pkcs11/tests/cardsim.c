/*
 * cardsim: a PKCS#11 module that behaves like a smart card in front of SoftHSM2.
 *
 * SoftHSM2 never locks a PIN and cannot be pulled out of a reader. Real cards do both, and the
 * tests must see what ksef-auth-pkcs11 does then. This module forwards every call to the module
 * named by $CARDSIM_MODULE (SoftHSM2) and changes only what a card would do differently, driven
 * by files in the folder $CARDSIM_STATE:
 *
 *   tries     the user PIN's remaining tries (default 3): each wrong PIN takes one; at 0 the
 *             PIN is locked (CKR_PIN_LOCKED, CKF_USER_PIN_LOCKED); a right PIN restores 3.
 *             CKF_USER_PIN_COUNT_LOW / CKF_USER_PIN_FINAL_TRY are reported as a card does.
 *   removed   while this file exists the token is out of its reader: no token in the slot list,
 *             CKR_TOKEN_NOT_PRESENT to open a session, CKR_DEVICE_REMOVED to every operation.
 *
 * Built by the tests with the system C compiler; PKCS#11 2.40 types are declared here, so no
 * header is needed.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef CK_ULONG CK_FLAGS;
typedef CK_ULONG CK_SLOT_ID;
typedef CK_ULONG CK_SESSION_HANDLE;
typedef CK_ULONG CK_USER_TYPE;
typedef unsigned char CK_BBOOL;
typedef unsigned char CK_UTF8CHAR;

typedef struct { unsigned char major, minor; } CK_VERSION;
typedef CK_RV (*CK_FN)();

/* CK_FUNCTION_LIST: the version, then 68 function pointers in the standard's order */
#define FUNCTIONS 68
typedef struct { CK_VERSION version; CK_FN fn[FUNCTIONS]; } FUNCTION_LIST;
typedef CK_RV (*GET_FUNCTION_LIST)(FUNCTION_LIST **);

/* 0-based positions in CK_FUNCTION_LIST (PKCS#11 2.40, pkcs11f.h order) */
enum {
    I_GetFunctionList = 3, I_GetSlotList = 4, I_GetSlotInfo = 5, I_GetTokenInfo = 6,
    I_OpenSession = 12, I_Login = 18, I_FindObjectsInit = 26, I_SignInit = 42, I_Sign = 43,
};

#define CKR_OK 0x0UL
#define CKR_DEVICE_REMOVED 0x32UL
#define CKR_PIN_INCORRECT 0xA0UL
#define CKR_PIN_LOCKED 0xA4UL
#define CKR_TOKEN_NOT_PRESENT 0xE0UL
#define CKR_GENERAL_ERROR 0x5UL
#define CKF_TOKEN_PRESENT 0x1UL
#define CKF_USER_PIN_COUNT_LOW 0x10000UL
#define CKF_USER_PIN_FINAL_TRY 0x20000UL
#define CKF_USER_PIN_LOCKED 0x40000UL
#define CKU_SO 0UL
#define MAX_TRIES 3

/* the offsets of .flags in CK_SLOT_INFO (64 + 32 chars) and CK_TOKEN_INFO (32+32+16+16) */
#define SLOT_FLAGS_OFFSET 96
#define TOKEN_FLAGS_OFFSET 96

static FUNCTION_LIST real_list;
static FUNCTION_LIST *real = NULL;
static FUNCTION_LIST ours;

static void state_path(char *out, size_t size, const char *name) {
    const char *dir = getenv("CARDSIM_STATE");
    snprintf(out, size, "%s/%s", dir ? dir : ".", name);
}

static int removed(void) {
    char path[4096];
    state_path(path, sizeof path, "removed");
    return access(path, F_OK) == 0;
}

static int tries(void) {
    char path[4096];
    int value = MAX_TRIES;
    state_path(path, sizeof path, "tries");
    FILE *file = fopen(path, "r");
    if (file) {
        if (fscanf(file, "%d", &value) != 1) value = MAX_TRIES;
        fclose(file);
    }
    return value;
}

static void set_tries(int value) {
    char path[4096];
    state_path(path, sizeof path, "tries");
    FILE *file = fopen(path, "w");
    if (file) {
        fprintf(file, "%d\n", value);
        fclose(file);
    }
}

static CK_RV GetSlotList(CK_BBOOL present, CK_SLOT_ID *list, CK_ULONG *count) {
    if (present && removed()) {
        if (!count) return CKR_GENERAL_ERROR;
        *count = 0;
        return CKR_OK;
    }
    return real->fn[I_GetSlotList](present, list, count);
}

static CK_RV GetSlotInfo(CK_SLOT_ID slot, unsigned char *info) {
    CK_RV rv = real->fn[I_GetSlotInfo](slot, info);
    if (rv == CKR_OK && removed()) *(CK_FLAGS *)(info + SLOT_FLAGS_OFFSET) &= ~CKF_TOKEN_PRESENT;
    return rv;
}

static CK_RV GetTokenInfo(CK_SLOT_ID slot, unsigned char *info) {
    if (removed()) return CKR_TOKEN_NOT_PRESENT;
    CK_RV rv = real->fn[I_GetTokenInfo](slot, info);
    if (rv != CKR_OK) return rv;
    CK_FLAGS *flags = (CK_FLAGS *)(info + TOKEN_FLAGS_OFFSET);
    int left = tries();
    if (left <= 0) *flags |= CKF_USER_PIN_LOCKED;
    else if (left == 1) *flags |= CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY;
    else if (left < MAX_TRIES) *flags |= CKF_USER_PIN_COUNT_LOW;
    return rv;
}

static CK_RV OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, void *app, void *notify,
                         CK_SESSION_HANDLE *session) {
    if (removed()) return CKR_TOKEN_NOT_PRESENT;
    return real->fn[I_OpenSession](slot, flags, app, notify, session);
}

static CK_RV Login(CK_SESSION_HANDLE session, CK_USER_TYPE user, CK_UTF8CHAR *pin, CK_ULONG len) {
    if (removed()) return CKR_DEVICE_REMOVED;
    if (user == CKU_SO) return real->fn[I_Login](session, user, pin, len);
    int left = tries();
    if (left <= 0) return CKR_PIN_LOCKED;
    CK_RV rv = real->fn[I_Login](session, user, pin, len);
    if (rv == CKR_PIN_INCORRECT) set_tries(left - 1);
    else if (rv == CKR_OK && left != MAX_TRIES) set_tries(MAX_TRIES);
    return rv;
}

static CK_RV FindObjectsInit(CK_SESSION_HANDLE session, void *template, CK_ULONG count) {
    if (removed()) return CKR_DEVICE_REMOVED;
    return real->fn[I_FindObjectsInit](session, template, count);
}

static CK_RV SignInit(CK_SESSION_HANDLE session, void *mechanism, CK_ULONG key) {
    if (removed()) return CKR_DEVICE_REMOVED;
    return real->fn[I_SignInit](session, mechanism, key);
}

static CK_RV Sign(CK_SESSION_HANDLE session, void *data, CK_ULONG len, void *signature,
                  CK_ULONG *signature_len) {
    if (removed()) return CKR_DEVICE_REMOVED;
    return real->fn[I_Sign](session, data, len, signature, signature_len);
}

CK_RV C_GetFunctionList(FUNCTION_LIST **list) {
    if (!real) {
        const char *path = getenv("CARDSIM_MODULE");
        void *handle = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
        GET_FUNCTION_LIST get = handle ? (GET_FUNCTION_LIST)dlsym(handle, "C_GetFunctionList") : NULL;
        FUNCTION_LIST *theirs = NULL;
        if (!get || get(&theirs) != CKR_OK || !theirs) return CKR_GENERAL_ERROR;
        memcpy(&real_list, theirs, sizeof real_list);
        real = &real_list;
        memcpy(&ours, theirs, sizeof ours);
        ours.fn[I_GetFunctionList] = (CK_FN)C_GetFunctionList;
        ours.fn[I_GetSlotList] = (CK_FN)GetSlotList;
        ours.fn[I_GetSlotInfo] = (CK_FN)GetSlotInfo;
        ours.fn[I_GetTokenInfo] = (CK_FN)GetTokenInfo;
        ours.fn[I_OpenSession] = (CK_FN)OpenSession;
        ours.fn[I_Login] = (CK_FN)Login;
        ours.fn[I_FindObjectsInit] = (CK_FN)FindObjectsInit;
        ours.fn[I_SignInit] = (CK_FN)SignInit;
        ours.fn[I_Sign] = (CK_FN)Sign;
    }
    *list = &ours;
    return CKR_OK;
}
