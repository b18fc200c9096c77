package demo;

/** Entry point: two handled requests, then one that fails. */
public class App {
    private int value = 3;

    public int getValue() { return value; }

    public static void main(String[] args) throws Exception {
        App app = new App();
        for (int i = 0; i < 2; i++) {
            System.out.println("handled " + i + " -> " + app.handleRequest(i));
        }
        try {
            app.handleFailing();
        } catch (IllegalStateException e) {
            System.out.println("caught " + e.getMessage());
        }
        // A loader that does not delegate to the system class loader: left alone by the hooks.
        java.net.URL here = App.class.getProtectionDomain().getCodeSource().getLocation();
        try (java.net.URLClassLoader isolated = new java.net.URLClassLoader(new java.net.URL[] {here}, null)) {
            Object h = isolated.loadClass("demo.Helper").getDeclaredConstructor().newInstance();
            System.out.println("isolated " + h.getClass().getMethod("square", int.class).invoke(h, 4));
        }
    }

    public String handleRequest(int n) {
        int total = 0;
        for (int i = 0; i < 2; i++) {
            total += compute(n + i);
        }
        return "total=" + total + " value=" + getValue();
    }

    public int compute(int x) {
        Helper h = new Helper();
        return h.square(x) + 1;
    }

    public void handleFailing() {
        new Helper().explode("bad input");
    }
}
