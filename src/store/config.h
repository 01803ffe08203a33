/*
 * config — the two human-editable files of a home (docs/CONFIG in README):
 * config.ini ([node], [limits]) and services.ini ([service NAME] sections).
 * Parsing is strict: an unknown section or key, a bad value or a duplicate
 * is an error naming the file and line. Rendering produces commented text.
 */
#ifndef VX6_STORE_CONFIG_H
#define VX6_STORE_CONFIG_H

#include <stddef.h>

#include "node/node.h"

#define VX6_CONFIG_MAX_FILE (1024 * 1024)

/* Parses config.ini text into cfg (which should hold defaults). */
int vx6_config_parse(const char *text, struct vx6_node_config *cfg, char *err, size_t errlen);
/* Parses services.ini text, replacing cfg's services. */
int vx6_services_parse(const char *text, struct vx6_node_config *cfg, char *err, size_t errlen);
/* Parses a peers file (one address per line, '#' comments) appending to
 * cfg->peers (duplicates skipped). */
int vx6_peers_parse(const char *text, struct vx6_node_config *cfg, char *err, size_t errlen);
/* Loads the files of a home into cfg (defaults first). A missing
 * services.ini means no services; peers_path may be NULL or missing. */
int vx6_config_load(const char *config_path, const char *services_path, struct vx6_node_config *cfg,
    char *err, size_t errlen);
int vx6_config_load_home(const char *config_path, const char *services_path, const char *peers_path,
    struct vx6_node_config *cfg, char *err, size_t errlen);
/* The initial config.ini for `vx6 init` (malloc'd). */
char *vx6_config_render(const struct vx6_node_config *cfg);
/* services.ini text for cfg's services (malloc'd). */
char *vx6_services_render(const struct vx6_node_config *cfg);
/* Parses "auto", "chacha20-poly1305", "aes256-gcm"; 0 when unknown. */
unsigned vx6_config_aead_parse(const char *s);

#endif
