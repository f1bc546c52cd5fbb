/* placeholder, filled by its issue work */
int main(void) { return 77; }
